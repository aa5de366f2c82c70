// The router service: a node:cluster primary that runs BERTH_ROUTER_PROCESSES
// router processes (proxy/worker.ts) on the HTTP and HTTPS ports and replaces
// any that dies. The primary itself handles no traffic.
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { configToEnv } from '../services/core/config.ts';
import { BerthError } from '../services/core/errors.ts';
import type { RunningService, ServiceContext } from '../services/core/service.ts';

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));
/** A worker that died is replaced after this, doubled per death in a row, up to 30 s. */
const RESTART_DELAY_MS = 500;
/** Workers finish requests in flight within 10 s (worker.ts); this bounds a stuck one. */
const STOP_LIMIT_MS = 15_000;

export async function start({ config, log }: ServiceContext): Promise<RunningService> {
  const count = config.routerProcesses ?? availableParallelism();
  // Each worker accepts on the shared socket itself: the default round-robin
  // passes every connection through the primary, a cost on every request.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  cluster.setupPrimary({ exec: WORKER, execArgv: ['--import', 'tsx'] });

  let stopping = false;
  let deathsInARow = 0;

  /** Resolves when the worker listens on both ports; rejects with its exit if it dies first. */
  const fork = (): Promise<Worker> =>
    new Promise((resolve, reject) => {
      // The workers get this service's configuration, not whatever the
      // primary's own environment says (they may differ in-process, in tests).
      const worker = cluster.fork(configToEnv(config));
      const onExit = (code: number | null, signal: string | null) =>
        reject(
          new BerthError('BERTH_E_SERVICE_FAILED', {
            service: 'router',
            reason: `a router process exited (${signal ?? `code ${code}`}) before it listened on ports ${config.httpPort} and ${config.httpsPort}`,
          }),
        );
      worker.once('exit', onExit);
      let listening = 0;
      worker.on('listening', () => {
        if (++listening < 2) return;
        worker.off('exit', onExit);
        deathsInARow = 0;
        worker.once('exit', (code, signal) => {
          if (stopping) return;
          deathsInARow++;
          const delay = Math.min(RESTART_DELAY_MS * 2 ** (deathsInARow - 1), 30_000);
          log.error(
            { pid: worker.process.pid, code, signal, restartInMs: delay },
            'a router process died; starting another',
          );
          setTimeout(() => {
            if (!stopping)
              fork().catch((e: unknown) => log.error({ err: e }, 'router process failed to start'));
          }, delay).unref();
        });
        resolve(worker);
      });
    });

  await Promise.all(Array.from({ length: count }, fork));
  log.info(
    {
      processes: count,
      address: config.routerBind ?? 'all interfaces',
      port: config.httpPort,
      httpsPort: config.httpsPort,
    },
    'router listening',
  );

  const httpPort = config.httpPort === 80 ? '' : `:${config.httpPort}`;
  return {
    endpoints: [
      // HTTPS once the status page's host has a certificate: the router then redirects there.
      { name: 'status page (router)', url: `http://${config.statusHost}${httpPort}/` },
      {
        name: 'apps (router)',
        url: `http://<app>.${config.domain}${httpPort}/`,
      },
      {
        name: 'apps (router, HTTPS)',
        url: `https://<app>.${config.domain}${config.httpsPort === 443 ? '' : `:${config.httpsPort}`}/`,
      },
    ],
    async stop() {
      stopping = true;
      const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w);
      await Promise.all(
        workers.map(
          (w) =>
            new Promise<void>((resolve) => {
              if (w.isDead()) return resolve();
              const limit = setTimeout(() => w.process.kill('SIGKILL'), STOP_LIMIT_MS);
              w.once('exit', () => {
                clearTimeout(limit);
                resolve();
              });
              w.send({ type: 'stop' });
            }),
        ),
      );
    },
  };
}
