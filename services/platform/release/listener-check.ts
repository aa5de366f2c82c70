// The default check of a web process without app.json checks: it accepts
// TCP connections on its PORT. From the default wait (Dokku's 10 s) on, one
// that has not is looked at: listening on another port (read from
// /proc/net/tcp in its network namespace), on its port of 127.0.0.1 only,
// or on none while idle (a `sleep`, a worker under the web type) fails the
// rollout at once with the fix, rather than after the whole 60 s wait; one
// still busy (a slow start: a JVM) is waited for, and the push says so.
// Dokku passes a web process that is still running after 10 s; Berth
// refuses it instead, since the router would then answer 502 to every
// request while the push said it was live: `checks:skip APP web` gives
// Dokku's behaviour, a Procfile `worker:` type the right one.
import type { Instance, Scheduler } from '../scheduler/scheduler.ts';
import { type CheckResult, type Listener, listeners, waitForTcp } from './health.ts';

export interface ListenerCheck {
  scheduler: Scheduler;
  instance: Instance;
  /** host:port the router will use. */
  address: string;
  port: number;
  timeoutMs: number;
  /** The default wait: looked at from then on. */
  waitMs: number;
  /** Under this CPU use (percent of one CPU), a process that does not listen is idle. */
  idleCpuPercent: number;
  alive: () => Promise<boolean>;
  signal: AbortSignal;
  log: { detail(text: string): void };
}

type Verdict = { reason: string; listens: number[]; loopback?: true };

export async function waitForListener(c: ListenerCheck): Promise<CheckResult> {
  const type = `${c.instance.type}.${c.instance.instance}`;
  let told = false;
  const result = await waitForTcp({
    address: c.address,
    timeoutMs: c.timeoutMs,
    alive: c.alive,
    signal: c.signal,
    inspect: {
      afterMs: c.waitMs,
      everyMs: 2000,
      run: async () => {
        const verdict = await look(c);
        if (verdict === 'busy' && !told) {
          told = true;
          c.log.detail(
            `${type} does not accept connections on port ${c.port} yet after ${Math.round(c.waitMs / 1000)} s; waiting up to ${Math.round(c.timeoutMs / 1000)} s while it starts`,
          );
        }
        return typeof verdict === 'object' ? verdict : undefined;
      },
    },
  });
  if (result.ok || result.exited || result.listens) return result;
  // Given up: say what it listens on, when it listens somewhere.
  const ports = (await listensOn(c))?.filter((l) => !l.loopback).map((l) => l.port);
  return ports && ports.length > 0
    ? {
        ...result,
        reason: `${result.reason}; it listens on port ${ports.join(', ')}`,
        listens: ports,
      }
    : result;
}

/** A verdict that ends the wait, 'busy' (still starting), or 'wait' (nothing to say yet). */
async function look(c: ListenerCheck): Promise<Verdict | 'busy' | 'wait'> {
  // CPU first: the look at its sockets runs `cat` in its cgroup.
  const usage = await c.scheduler.usage([c.instance.id]).catch(() => undefined);
  const cpu = usage?.get(c.instance.id)?.cpuPercent;
  if (cpu === undefined || cpu >= c.idleCpuPercent) return 'busy';
  const found = await listensOn(c);
  if (found === undefined) return 'wait';
  const ports = found.filter((l) => !l.loopback).map((l) => l.port);
  if (ports.includes(c.port)) return 'wait';
  if (found.some((l) => l.port === c.port)) {
    return {
      reason: `it listens on port ${c.port} of 127.0.0.1 only, which the router cannot reach`,
      listens: [],
      loopback: true,
    };
  }
  return ports.length > 0
    ? {
        reason: `it listens on port ${ports.join(', ')}, not on ${c.port} (its PORT)`,
        listens: ports,
      }
    : {
        reason: `it has run ${Math.round(c.waitMs / 1000)} s, listens on no port and is idle`,
        listens: [],
      };
}

/**
 * What the instance listens on, read from /proc/net/tcp in its network
 * namespace; undefined when that cannot be read (no `cat` in the image).
 */
async function listensOn(
  c: Pick<ListenerCheck, 'scheduler' | 'instance'>,
): Promise<Listener[] | undefined> {
  try {
    const r = await c.scheduler.exec(c.instance, ['cat', '/proc/net/tcp', '/proc/net/tcp6'], 3000);
    // tcp6 is missing where IPv6 is off; tcp is always there.
    return r.output.includes('local_address') ? listeners(r.output) : undefined;
  } catch {
    return undefined;
  }
}
