// Runs every Berth service as a child process: starts them, waits until each
// says it is ready, restarts one that dies (with backoff), and on stop sends
// SIGTERM and waits for each to finish its in-flight work before SIGKILL.
import { type ChildProcess, fork } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { type Config, configToEnv } from '../services/core/config.ts';
import { BerthError } from '../services/core/errors.ts';
import type { Logger } from '../services/core/log.ts';
import type { Endpoint, ServiceMessage } from '../services/core/service.ts';

export interface ServiceSpec {
  name: string;
  /**
   * Entry module, relative to the repository root: `services/<name>/main.ts`,
   * which calls runService with the `start` that `service.ts` beside it exports
   * (test/harness/in-process.ts calls that `start` directly).
   */
  entry: string;
}

/** Every service `npm start` runs; later issues add theirs here. */
export const SERVICES: readonly ServiceSpec[] = [
  { name: 'web', entry: 'services/web/main.ts' },
  { name: 'ssh', entry: 'services/ssh/main.ts' },
  { name: 'builder', entry: 'services/builder/main.ts' },
  { name: 'router', entry: 'proxy/main.ts' },
  { name: 'certs', entry: 'services/certs/main.ts' },
];

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface SupervisorOptions {
  config: Config;
  log: Logger;
  /** The environment children inherit besides Berth's configuration (PATH, HOME...). */
  baseEnv: NodeJS.ProcessEnv;
  services?: readonly ServiceSpec[];
  /** Where the children's log lines go (one JSON object per line). */
  onLogLine?: (service: string, line: string) => void;
  readyTimeoutMs?: number;
  /** How long a service may take to drain after SIGTERM before SIGKILL. */
  stopGraceMs?: number;
}

interface Child {
  spec: ServiceSpec;
  process: ChildProcess;
  restarts: number;
  endpoints: Endpoint[];
}

export class Supervisor {
  private readonly children = new Map<string, Child>();
  private stopping = false;

  constructor(private readonly o: SupervisorOptions) {}

  /** Starts every service; resolves with their endpoints once all are ready. */
  async start(): Promise<Endpoint[]> {
    const specs = this.o.services ?? SERVICES;
    // Wait for every service to be ready or failed before stopping any, so
    // none is signalled half-way through its own start.
    const results = await Promise.allSettled(specs.map((spec) => this.spawn(spec, 0)));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) {
      await this.stop();
      throw failed.reason;
    }
    return specs.flatMap((s) => this.children.get(s.name)?.endpoints ?? []);
  }

  private spawn(spec: ServiceSpec, restarts: number): Promise<void> {
    const child = fork(path.join(ROOT, spec.entry), [], {
      cwd: ROOT,
      execArgv: ['--import', 'tsx'],
      env: { ...this.o.baseEnv, ...configToEnv(this.o.config) },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const entry: Child = { spec, process: child, restarts, endpoints: [] };
    this.children.set(spec.name, entry);
    const emit = (line: string) => this.o.onLogLine?.(spec.name, line);
    if (child.stdout) createInterface({ input: child.stdout }).on('line', emit);
    if (child.stderr) createInterface({ input: child.stderr }).on('line', emit);

    return new Promise((resolve, reject) => {
      let ready = false;
      const timer = setTimeout(() => {
        fail(`not ready after ${(this.o.readyTimeoutMs ?? 30_000) / 1000} s`);
        child.kill('SIGKILL');
      }, this.o.readyTimeoutMs ?? 30_000);
      const fail = (reason: string) => {
        clearTimeout(timer);
        reject(new BerthError('BERTH_E_SERVICE_FAILED', { service: spec.name, reason }));
      };
      child.on('message', (m: ServiceMessage) => {
        if (m.type === 'ready' && !ready) {
          ready = true;
          clearTimeout(timer);
          entry.endpoints = m.endpoints;
          resolve();
        } else if (m.type === 'failed' && !ready) {
          fail(m.error);
        }
      });
      child.on('exit', (code, signal) => {
        if (!ready) {
          fail(signal ? `killed by ${signal}` : `exited with code ${code}`);
          return;
        }
        if (this.stopping) return;
        // A crash after start: bring it back, slower each time, so a service
        // that cannot run does not spin the machine.
        const delay = Math.min(30_000, 1000 * 2 ** Math.min(restarts, 5));
        this.o.log.error(
          { service: spec.name, code, signal, restartInMs: delay },
          'service exited; restarting',
        );
        setTimeout(() => {
          if (!this.stopping) {
            this.spawn(spec, restarts + 1).catch((e: Error) =>
              this.o.log.error({ service: spec.name, err: e }, 'restart failed'),
            );
          }
        }, delay).unref();
      });
    });
  }

  /** SIGTERM to every service, then SIGKILL to those still running after the grace period. */
  async stop(): Promise<void> {
    this.stopping = true;
    const grace = this.o.stopGraceMs ?? 35_000;
    await Promise.all(
      [...this.children.values()].map(
        ({ process: child, spec }) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            const killer = setTimeout(() => {
              this.o.log.warn(
                { service: spec.name },
                `still running after ${grace / 1000} s; killing it`,
              );
              child.kill('SIGKILL');
            }, grace);
            child.once('exit', () => {
              clearTimeout(killer);
              resolve();
            });
            child.kill('SIGTERM');
          }),
      ),
    );
  }
}
