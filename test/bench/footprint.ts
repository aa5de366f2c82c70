// What a running Berth holds in memory: the proportional set size (PSS,
// /proc/<pid>/smaps_rollup) summed over every process Berth started for one
// data directory. PSS, not RSS: pages shared between Berth's processes (the
// node binary, shared libraries) count once in the sum, split between them.
import { readdir, readFile } from 'node:fs/promises';

export interface ProcessMemory {
  pid: number;
  /** The program and its first arguments, shortened, for the log. */
  command: string;
  pssKiB: number;
}

/**
 * Programs Berth's processes may have started that are not Berth: the
 * Redis and Docker Engine it starts when none runs outlive it by design and
 * are shared with whatever else uses them.
 */
const NOT_BERTH = new Set(['redis-server', 'dockerd', 'containerd', 'docker-proxy']);

/**
 * Every process of the Berth that runs for `dataDir`: those whose environment
 * names that data directory (the supervisor, its services and what they
 * start, and the router processes, which are nobody's children any more),
 * except the `npm start` wrapper itself (`exceptPid`), which is npm's.
 */
export async function berthProcesses(dataDir: string, exceptPid?: number): Promise<number[]> {
  const found: number[] = [];
  const marker = `BERTH_DATA_DIR=${dataDir}`;
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === exceptPid || pid === process.pid) continue;
    const [environ, comm] = await Promise.all([
      readFile(`/proc/${entry}/environ`, 'utf8').catch(() => ''),
      readFile(`/proc/${entry}/comm`, 'utf8').catch(() => ''),
    ]);
    if (!environ.split('\0').includes(marker) || NOT_BERTH.has(comm.trim())) continue;
    found.push(pid);
  }
  return found;
}

/** The PSS of each process (those that ended meanwhile are left out). */
export async function memoryOf(pids: readonly number[]): Promise<ProcessMemory[]> {
  const rows = await Promise.all(
    pids.map(async (pid): Promise<ProcessMemory | undefined> => {
      const [rollup, cmdline] = await Promise.all([
        readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => ''),
        readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => ''),
      ]);
      const pss = /^Pss:\s+(\d+) kB/m.exec(rollup)?.[1];
      if (pss === undefined) return undefined;
      const command = cmdline
        .split('\0')
        .filter(Boolean)
        .map((a) => a.replace(/^.*\/(?=[^/]+\/[^/]+$)/, ''))
        .join(' ')
        .slice(0, 60);
      return { pid, command, pssKiB: Number(pss) };
    }),
  );
  return rows.filter((r): r is ProcessMemory => r !== undefined);
}

/** One sample: the PSS sum of Berth's processes in MB (10^6 bytes), and the processes. */
export async function sampleFootprint(
  dataDir: string,
  exceptPid?: number,
): Promise<{ mb: number; processes: ProcessMemory[] }> {
  const processes = await memoryOf(await berthProcesses(dataDir, exceptPid));
  const kib = processes.reduce((n, p) => n + p.pssKiB, 0);
  return { mb: (kib * 1024) / 1e6, processes };
}

/** A line per process, largest first, for the scenario's log. */
export function describeProcesses(processes: readonly ProcessMemory[]): string[] {
  return [...processes]
    .sort((a, b) => b.pssKiB - a.pssKiB)
    .map((p) => `${String(Math.round(p.pssKiB / 1024)).padStart(4)} MiB  ${p.pid}  ${p.command}`);
}
