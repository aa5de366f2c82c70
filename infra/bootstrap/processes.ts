// Processes Berth starts and finds again through pid files (dockerd, its
// containerd): liveness that does not mistake a zombie or a recycled pid for
// the program, and stopping with a grace period.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/** SIGTERM, then SIGKILL if the process has not exited within graceMs. */
export async function stopProcess(
  name: string,
  pid: number,
  exited: Promise<void>,
  graceMs = 30_000,
): Promise<void> {
  const gone = () => !isAlive(pid);
  if (gone()) return;
  signal(pid, 'SIGTERM');
  if (await waitUntil(exited, gone, graceMs)) return;
  signal(pid, 'SIGKILL');
  if (!(await waitUntil(exited, gone, 5000))) {
    throw new Error(`${name} (pid ${pid}) did not exit after SIGKILL`);
  }
}

export async function waitUntil(
  exited: Promise<void>,
  done: () => boolean,
  ms: number,
): Promise<boolean> {
  const deadline = Date.now() + ms;
  let fired = false;
  void exited.then(() => {
    fired = true;
  });
  while (Date.now() < deadline) {
    if (fired || done()) return true;
    await sleep(50);
  }
  return fired || done();
}

export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}

/** True while the process exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  return processState(pid) !== 'Z';
}

/** The pid of a process's parent, from /proc; undefined when it is gone. */
export function parentPid(pid: number): number | undefined {
  // "pid (comm) S ppid ...".
  const stat = readFileSyncSafe(`/proc/${pid}/stat`);
  const ppid = Number(stat?.slice(stat.lastIndexOf(')') + 4).split(' ')[0]);
  return Number.isInteger(ppid) && ppid > 0 ? ppid : undefined;
}

export function processState(pid: number): string | undefined {
  // "pid (comm) S ...": the state follows the last ")".
  const stat = readFileSyncSafe(`/proc/${pid}/stat`);
  return stat?.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
}

export function readFileSyncSafe(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** How long the process has run, from /proc (clock ticks at the usual 100 Hz). */
export function processAgeMs(pid: number): number | undefined {
  const stat = readFileSyncSafe(`/proc/${pid}/stat`);
  const uptime = readFileSyncSafe('/proc/uptime');
  if (!stat || !uptime) return undefined;
  // Fields after "(comm)": state is field 3, starttime field 22.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const startTicks = Number(fields[19]);
  const upSeconds = Number(uptime.split(' ')[0]);
  if (!Number.isFinite(startTicks) || !Number.isFinite(upSeconds)) return undefined;
  return Math.max(0, upSeconds * 1000 - startTicks * 10);
}

export type PidFileState =
  | { state: 'none' }
  | { state: 'alive'; pid: number }
  | { state: 'stale'; pid: number | undefined; why: string; text: string };

/** What a pid file says: no file, a live `name` process, or a leftover. */
export async function livePid(pidFile: string, name: string): Promise<PidFileState> {
  const text = await readFile(pidFile, 'utf8').catch(() => undefined);
  if (text === undefined) return { state: 'none' };
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 0) {
    return { state: 'stale', pid: undefined, why: 'not a pid', text };
  }
  if (!isAlive(pid)) {
    return {
      state: 'stale',
      pid,
      why: `pid ${pid} is not running (left by a killed ${name})`,
      text,
    };
  }
  const comm = readFileSyncSafe(`/proc/${pid}/comm`)?.trim();
  if (comm !== undefined && comm !== name) {
    return { state: 'stale', pid, why: `pid ${pid} is now "${comm}", not ${name}`, text };
  }
  return { state: 'alive', pid };
}
