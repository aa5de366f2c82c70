// CPU affinity for benchmark processes: on a 2-core machine, a proxy that
// shares both cores with the load generator and the backend is measured
// with their scheduling noise; one with a core to itself is measured by its
// own cost per request, as the router issue's reference figures were taken
// ("one core each").
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A process and all its descendants (cluster workers, nginx workers), from /proc. */
async function processTree(root: number): Promise<number[]> {
  const parents = new Map<number, number>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    // /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces and parentheses.
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid) parents.set(Number(entry), ppid);
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) {
    for (const [pid, ppid] of parents) if (ppid === tree[i]) tree.push(pid);
  }
  return tree;
}

/** Puts `pid`, its threads and its descendants on `cpus` (taskset's list syntax: "1", "0-1"). */
export async function pinTree(pid: number, cpus: string): Promise<void> {
  for (const p of await processTree(pid)) {
    await run('taskset', ['-a', '-p', '-c', cpus, String(p)]).catch(() => {
      // Gone meanwhile (a short-lived helper process): nothing to pin.
    });
  }
}
