// One wrk run against a loopback URL, its figures read from a Lua done()
// hook (exact microseconds, not wrk's rounded human units). wrk is not wrk2:
// each connection sends its next request when the last answer arrives, so
// the latencies are those of a closed loop at this concurrency.
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface WrkResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Answers with a status of 400 or more (wrk counts those as errors). */
  badStatus: number;
  /** Connect, read, write errors and timeouts. */
  socketErrors: number;
}

const DONE_HOOK = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK-RESULT %d %d %d %d %d %d\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
`;

/** Writes the Lua hook wrk needs into `dir`; returns its path for runWrk. */
export async function wrkScript(dir: string): Promise<string> {
  const file = path.join(dir, 'result.lua');
  await writeFile(file, DONE_HOOK);
  return file;
}

export async function runWrk(o: {
  script: string;
  port: number;
  host: string;
  connections: number;
  threads: number;
  seconds: number;
  /** The CPUs wrk runs on (taskset's list syntax); all when absent. */
  cpus?: string;
}): Promise<WrkResult> {
  const args = [
    `-t${o.threads}`,
    `-c${o.connections}`,
    `-d${o.seconds}s`,
    '--timeout',
    '5s',
    '-H',
    `Host: ${o.host}`,
    '-s',
    o.script,
    `http://127.0.0.1:${o.port}/`,
  ];
  const child = o.cpus
    ? spawn('taskset', ['-c', o.cpus, 'wrk', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString();
  });
  // wrk ends on its own after -d; this bounds a wrk that does not.
  const limit = setTimeout(() => child.kill('SIGKILL'), (o.seconds + 15) * 1000);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  }).finally(() => clearTimeout(limit));
  const line = out.split('\n').find((l) => l.startsWith('WRK-RESULT '));
  if (code !== 0 || !line) {
    throw new Error(`wrk on port ${o.port} exited ${code}: ${out.trim().split('\n').at(-1)}`);
  }
  const [requests, durationUs, p50Us, p99Us, badStatus, socketErrors] = line
    .split(' ')
    .slice(1)
    .map(Number) as [number, number, number, number, number, number];
  return {
    requestsPerSecond: requests / (durationUs / 1e6),
    p50Ms: p50Us / 1000,
    p99Ms: p99Us / 1000,
    badStatus,
    socketErrors,
  };
}
