// The router service: a primary that keeps BERTH_ROUTER_PROCESSES router
// processes (proxy/worker.ts) serving the HTTP and HTTPS ports and replaces
// any that dies. The primary handles no traffic and holds no listening
// socket: the router processes do, and they outlive it. Killed, its router
// processes serve on; the next primary (the supervisor starts one) finds
// them on its control socket and adopts them, so the ports never close
// (issue 16, item 12). Only a deliberate stop (SIGTERM) stops them.
import { rmSync } from 'node:fs';
import net from 'node:net';
import { availableParallelism } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Config, configToEnv } from '../services/core/config.ts';
import { BerthError } from '../services/core/errors.ts';
import { dataPaths } from '../services/core/paths.ts';
import { isAlive, signal } from '../services/core/pids.ts';
import type { Endpoint, RunningService, ServiceContext } from '../services/core/service.ts';
import { ensureFallbackCertificate } from '../services/platform/certs/fallback-cert.ts';
import {
  controlSocketPath,
  fingerprint,
  type PrimaryMessage,
  readMessages,
  sendMessage,
  type WorkerMessage,
} from './control.ts';
import { startRouterProcess, WORKER } from './spawn.ts';

/** A router process that died is replaced after this, doubled per death in a row, up to 30 s. */
const RESTART_DELAY_MS = 500;
/** Router processes finish requests in flight within 10 s (worker.ts); this bounds a stuck one. */
const STOP_LIMIT_MS = 15_000;
/** Router processes left by a killed primary reconnect every 200 ms (worker.ts). */
const ADOPT_WAIT_MS = 3000;
/** Adoption ends once no new router process has said hello for this long. */
const ADOPT_QUIET_MS = 500;

interface Member {
  pid: number;
  socket: net.Socket;
  /** Runs this primary's configuration and version. */
  current: boolean;
  /** Asked to stop, others serving in its place: its end is no death. */
  retiring?: boolean;
}

export async function start({ config, log }: ServiceContext): Promise<RunningService> {
  const count = config.routerProcesses ?? availableParallelism();
  const env = { ...process.env, ...configToEnv(config) };
  const mine = fingerprint(config);
  const members = new Map<number, Member>();
  const waiters = new Set<() => void>();
  const changed = () => {
    for (const w of waiters) w();
  };
  let stopping = false;
  let deathsInARow = 0;
  let nextId = 1;
  const spawnReplies = new Map<number, (m: WorkerMessage) => void>();

  const controlPath = controlSocketPath(config);
  const control = await listenControl(controlPath, config);
  control.on('connection', (socket) => {
    let pid: number | undefined;
    socket.on('error', () => {});
    readMessages<WorkerMessage>(socket, (m) => {
      if (m.type === 'hello' && pid === undefined) {
        pid = m.pid;
        members.set(pid, { pid, socket, current: m.fingerprint === mine });
        if (stopping) sendMessage(socket, { type: 'stop' } satisfies PrimaryMessage);
        changed();
      } else if (m.type === 'spawned' || m.type === 'spawn-failed') {
        spawnReplies.get(m.id)?.(m);
      }
    });
    socket.on('close', () => {
      const member = pid === undefined ? undefined : members.get(pid);
      if (member?.socket !== socket) return;
      members.delete(member.pid);
      changed();
      if (!member.retiring) onGone(member.pid);
    });
  });

  /** Resolves once `check` holds; rejects after `ms`. */
  const until = (check: () => boolean, ms: number, what: string) =>
    new Promise<void>((resolve, reject) => {
      if (check()) return resolve();
      const timer = setTimeout(() => {
        waiters.delete(test);
        reject(new BerthError('BERTH_E_SERVICE_FAILED', { service: 'router', reason: what }));
      }, ms);
      const test = () => {
        if (!check()) return;
        clearTimeout(timer);
        waiters.delete(test);
        resolve();
      };
      waiters.add(test);
    });

  /** `n` more router processes, started from a running one's sockets, or binding the ports. */
  const grow = async (n: number): Promise<void> => {
    if (n <= 0) return;
    const source = [...members.values()].sort((a, b) => Number(b.current) - Number(a.current))[0];
    let pids: number[];
    if (source) {
      const id = nextId++;
      const reply = new Promise<WorkerMessage>((resolve) => spawnReplies.set(id, resolve));
      // This primary's code, which the asked router process may not run (a reload).
      sendMessage(source.socket, {
        type: 'spawn',
        id,
        count: n,
        env: configToEnv(config),
        worker: WORKER,
      });
      const m = await Promise.race([
        reply,
        until(() => !members.has(source.pid), 60_000, 'no answer to a spawn').then(
          (): WorkerMessage => ({ type: 'spawn-failed', id, reason: 'the router process died' }),
        ),
      ]).finally(() => spawnReplies.delete(id));
      if (m.type !== 'spawned') {
        throw new BerthError('BERTH_E_SERVICE_FAILED', {
          service: 'router',
          reason: m.type === 'spawn-failed' ? m.reason : 'no answer to a spawn',
        });
      }
      pids = m.pids;
    } else {
      // Nothing serves: this is a first start (or every router process died).
      const first = await startRouterProcess(env, 'bind');
      await until(() => members.has(first), 10_000, 'the first router process did not report');
      await grow(n - 1);
      return;
    }
    await until(
      () => pids.every((p) => members.has(p) || !isAlive(p)),
      10_000,
      'new router processes did not report',
    );
    if (!pids.every((p) => members.has(p))) {
      throw new BerthError('BERTH_E_SERVICE_FAILED', {
        service: 'router',
        reason: 'a new router process exited right after it listened',
      });
    }
  };

  /** Makes `count` current router processes serve, and retires the others once they do. */
  const settle = async () => {
    const current = [...members.values()].filter((m) => m.current).length;
    await grow(count - current);
    for (const m of members.values()) {
      if (m.current || m.retiring) continue;
      m.retiring = true;
      sendMessage(m.socket, { type: 'stop', handover: true } satisfies PrimaryMessage);
    }
    deathsInARow = 0;
  };

  const onGone = (pid: number) => {
    if (stopping) return;
    deathsInARow++;
    const delay = Math.min(RESTART_DELAY_MS * 2 ** (deathsInARow - 1), 30_000);
    log.error({ pid, restartInMs: delay }, 'a router process died; starting another');
    setTimeout(() => {
      if (stopping) return;
      settle().catch((e: unknown) => log.error({ err: e }, 'router process failed to start'));
    }, delay).unref();
  };

  try {
    // Router processes read it at start. Normally made already while the
    // machine was prepared (infra/prepare.ts), in a process that then ends:
    // the X.509 library loads here only for a router started on its own.
    if (await ensureFallbackCertificate(dataPaths(config.dataDir))) {
      log.info('made the fallback certificate');
    }
    if (!(await portsFree(config))) {
      // Someone listens on the ports: router processes a killed primary left
      // (they reconnect within moments) or another program.
      await until(() => members.size > 0, ADOPT_WAIT_MS, '').catch(() => {
        throw new BerthError('BERTH_E_SERVICE_FAILED', {
          service: 'router',
          reason: `port ${config.httpPort} or ${config.httpsPort} is in use by another program`,
        });
      });
      let seen = -1;
      while (seen !== members.size) {
        seen = members.size;
        await sleep(ADOPT_QUIET_MS);
      }
      log.info(
        {
          pids: [...members.keys()],
          current: [...members.values()].filter((m) => m.current).length,
        },
        'adopted the router processes a previous primary left',
      );
    }
    await settle();
  } catch (e) {
    // Router processes of another version that this primary adopted serve
    // on for the next primary (the supervisor starts the previous version's
    // again when a reload's fails): only what this one started stops.
    const adopted = [...members.values()].filter((m) => !m.current);
    if (adopted.length > 0) await stopAll((m) => m.current);
    else await stopAll();
    throw e;
  }
  log.info(
    {
      processes: count,
      pids: [...members.keys()],
      address: config.routerBind ?? 'all interfaces',
      port: config.httpPort,
      httpsPort: config.httpsPort,
    },
    'router listening',
  );

  /** Stops every router process (or those `which` picks) and closes the control socket. */
  async function stopAll(which: (m: Member) => boolean = () => true): Promise<void> {
    stopping = true;
    const chosen = [...members.values()].filter(which);
    const pids = chosen.map((m) => m.pid);
    for (const m of chosen) sendMessage(m.socket, { type: 'stop' } satisfies PrimaryMessage);
    await until(() => pids.every((p) => !isAlive(p)), STOP_LIMIT_MS, '').catch(() => {
      for (const p of pids) if (isAlive(p)) signal(p, 'SIGKILL');
    });
    control.close();
    rmSync(controlPath, { force: true });
  }

  return {
    endpoints: routerEndpoints(config),
    stop: () => stopAll(),
  };
}

/** Where the router serves; the supervisor shows these for a router it adopted, too. */
export function routerEndpoints(config: Config): Endpoint[] {
  const httpPort = config.httpPort === 80 ? '' : `:${config.httpPort}`;
  return [
    // HTTPS once the status page's host has a certificate: the router then redirects there.
    { name: 'status page (router)', url: `http://${config.statusHost}${httpPort}/` },
    { name: 'apps (router)', url: `http://<app>.${config.domain}${httpPort}/` },
    {
      name: 'apps (router, HTTPS)',
      url: `https://<app>.${config.domain}${config.httpsPort === 443 ? '' : `:${config.httpsPort}`}/`,
    },
  ];
}

/**
 * The control socket, unless a primary answers there already (a second
 * router for the same port would fight the first over its processes).
 */
async function listenControl(file: string, config: Config): Promise<net.Server> {
  const answered = await new Promise<boolean>((resolve) => {
    const probe = net.connect(file);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (answered) {
    throw new BerthError('BERTH_E_SERVICE_FAILED', {
      service: 'router',
      reason: `another router runs for port ${config.httpPort} on this data directory (${file} answers)`,
    });
  }
  // A file nobody answers on: left by a primary that was killed.
  rmSync(file, { force: true });
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(file, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

/**
 * Whether both ports can be bound. The probe listens for a moment only when
 * nothing else does, and closes in the same tick, before it could accept.
 */
async function portsFree(config: Config): Promise<boolean> {
  for (const port of [config.httpPort, config.httpsPort]) {
    const free = await new Promise<boolean>((resolve) => {
      const probe = net.createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, config.routerBind, () => probe.close(() => resolve(true)));
    });
    if (!free) return false;
  }
  return true;
}
