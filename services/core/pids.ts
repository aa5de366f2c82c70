// Whether a process is still there, for processes Berth watches without
// being their parent (a router adopted after a restart, the router processes
// a new primary adopts): no 'exit' event comes for those.
import { readFileSync } from 'node:fs';

/**
 * True while `pid` runs. A zombie (dead, not yet reaped: a container whose
 * init does not reap) counts as gone.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    // EPERM: it exists, owned by someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // "pid (comm) S ...": the state follows the last ')' (comm may hold one).
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    // No /proc: kill(0) said it exists.
    return true;
  }
}

/** The command line and environment of `pid` (Linux /proc), or undefined when unreadable. */
export function processFacts(pid: number): { argv: string[]; env: string[] } | undefined {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    return { argv, env };
  } catch {
    return undefined;
  }
}

/** Sends `signal` to `pid`; false when it is gone already. */
export function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}
