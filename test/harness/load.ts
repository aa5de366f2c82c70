// A steady request load for tests and benchmarks: N keep-alive connections, each
// sending the next GET as soon as the last answer ends, to one Host on a
// loopback port. Bounded: it stops when asked or after `maxMs`, and each
// request after `timeoutMs`. Every request is accounted to the phase that was
// current when it started, so "during the deploys" and "with no deploy" come
// from one run.
import http from 'node:http';

export interface PhaseResult {
  phase: string;
  requests: number;
  /** Answers with a status outside 200–299. */
  non2xx: number;
  /** Requests that got no answer: refused, reset, timed out. */
  errors: number;
  p50Ms: number;
  p99Ms: number;
  /** The slowest answer (ms). */
  maxMs: number;
  /** A few of the failures, for the log. */
  examples: string[];
}

export interface Load {
  /** Requests started from now on count to `name`. */
  phase(name: string): void;
  /** Requests answered or failed so far, in every phase. */
  requests(): number;
  stop(): Promise<PhaseResult[]>;
}

const quantile = (sorted: number[], q: number) =>
  sorted.length === 0
    ? Number.NaN
    : (sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number);

export function startLoad(o: {
  port: number;
  host: string;
  path?: string;
  connections: number;
  maxMs: number;
  timeoutMs?: number;
  /** The first phase's name (default 'start'). */
  phase?: string;
  /**
   * Each connection waits this long after an answer before its next request
   * (an app's steady traffic, not the most the machine can push); default 0.
   */
  pauseMs?: number;
}): Load {
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.connections });
  const phases = new Map<
    string,
    { latencies: number[]; non2xx: number; errors: number; examples: string[] }
  >();
  let current = o.phase ?? 'start';
  let running = true;
  const deadline = setTimeout(() => {
    running = false;
  }, o.maxMs);

  const record = (phase: string) => {
    let p = phases.get(phase);
    if (!p) {
      p = { latencies: [], non2xx: 0, errors: 0, examples: [] };
      phases.set(phase, p);
    }
    return p;
  };

  const once = (phase: string) =>
    new Promise<void>((resolve) => {
      const t0 = performance.now();
      const p = record(phase);
      const fail = (what: string) => {
        if (p.examples.length < 5) p.examples.push(what);
      };
      const req = http.request(
        { host: '127.0.0.1', port: o.port, path: o.path ?? '/', headers: { host: o.host }, agent },
        (res) => {
          res.resume();
          res.on('end', () => {
            p.latencies.push(performance.now() - t0);
            if (res.statusCode === undefined || res.statusCode < 200 || res.statusCode > 299) {
              p.non2xx++;
              fail(`HTTP ${res.statusCode}`);
            }
            resolve();
          });
          res.on('error', (e) => {
            p.errors++;
            fail(e.message);
            resolve();
          });
        },
      );
      req.setTimeout(o.timeoutMs ?? 10_000, () => req.destroy(new Error('timed out')));
      req.on('error', (e) => {
        p.errors++;
        fail(e.message);
        resolve();
      });
      req.end();
    });

  const pause = o.pauseMs ?? 0;
  const loops = Array.from({ length: o.connections }, async () => {
    while (running) {
      await once(current);
      if (pause > 0 && running) await new Promise((r) => setTimeout(r, pause));
    }
  });

  return {
    phase(name) {
      current = name;
    },
    requests() {
      let n = 0;
      for (const p of phases.values()) n += p.latencies.length + p.errors;
      return n;
    },
    async stop() {
      running = false;
      clearTimeout(deadline);
      await Promise.all(loops);
      agent.destroy();
      return [...phases].map(([phase, p]) => {
        const sorted = [...p.latencies].sort((a, b) => a - b);
        return {
          phase,
          requests: p.latencies.length + p.errors,
          non2xx: p.non2xx,
          errors: p.errors,
          p50Ms: quantile(sorted, 0.5),
          p99Ms: quantile(sorted, 0.99),
          maxMs: sorted.at(-1) ?? Number.NaN,
          examples: p.examples,
        };
      });
    },
  };
}
