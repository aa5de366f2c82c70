// Keeps ACME certificates fresh: each is renewed once a third of its lifetime
// is left (Let's Encrypt's advice), a failed order is retried at its
// recorded next attempt (a doubling backoff, acme.ts), and a domain whose
// first order failed is ordered again the same way. It wakes for the
// earliest such moment, at most a day apart ("checked daily") and at start,
// and again whenever a certificate changes (a new one may be due sooner).
import type { Redis } from 'ioredis';
import { errorLine } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import type { CertMeta } from '../../core/store/index.ts';
import { type AcmeOptions, certifiable, obtainCertificate } from './acme.ts';

const DAY_MS = 24 * 3600_000;
/** The shortest sleep, so a certificate that keeps being due cannot spin the loop. */
const MIN_WAIT_MS = 1000;

/** When the renewer should order a certificate for this domain (ms), or undefined: never. */
export function dueAt(meta: CertMeta): number | undefined {
  if (meta.source !== 'acme') return undefined;
  const retry = meta.nextAttemptAt === null ? undefined : Date.parse(meta.nextAttemptAt);
  if (meta.notBefore === null || meta.notAfter === null) return retry ?? 0;
  const start = Date.parse(meta.notBefore);
  const end = Date.parse(meta.notAfter);
  const renewAt = end - (end - start) / 3;
  return retry === undefined ? renewAt : Math.max(renewAt, retry);
}

/**
 * cert.renewal-failed for the webhooks of the app the domain belongs to
 * (none for the platform's own domains), once per failure acme.ts recorded:
 * its backoff already spaces them out.
 */
async function tellOwner(store: AcmeOptions['store'], domain: string, e: unknown): Promise<void> {
  const app = await store.domains.owner(domain);
  if (app === undefined) return;
  const failures = (await store.certs.get(domain))?.failures ?? 0;
  await store.notifications.emitOnce(
    app,
    `cert.${domain}.${failures}`,
    30 * 86_400,
    'cert.renewal-failed',
    {
      at: new Date().toISOString(),
      domain,
      error: errorLine(e),
    },
  );
}

export interface Renewer {
  /** Resolves after the pass in progress, if any, has ended. */
  stop(): Promise<void>;
}

export function startRenewer(
  acme: Omit<AcmeOptions, 'onProgress'>,
  o: { subscriber: Redis; log: Logger },
): Renewer {
  const { store } = acme;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;

  const pass = async () => {
    const now = Date.now();
    let next = now + DAY_MS;
    for (const meta of await store.certs.list()) {
      if (stopped) return;
      const due = dueAt(meta);
      if (due === undefined) continue;
      if (due > now) {
        next = Math.min(next, due);
        continue;
      }
      // Metadata of a domain nobody serves any more: a BERTH_DOMAIN changed
      // since its certificate was ordered (an app's domain takes its
      // metadata with it when removed). Ordering it would fail every time.
      if (!(await certifiable(acme, meta.domain))) {
        o.log.warn(
          { domain: meta.domain },
          'not renewing the certificate of a domain Berth no longer serves; remove it with certs:remove',
        );
        continue;
      }
      try {
        const info = await obtainCertificate(acme, meta.domain);
        o.log.info(
          { domain: meta.domain, serial: info.serial, notAfter: info.notAfter },
          'certificate renewed',
        );
      } catch (e) {
        o.log.warn({ domain: meta.domain, err: e }, 'certificate renewal failed');
        await tellOwner(store, meta.domain, e).catch((err: unknown) =>
          o.log.warn({ domain: meta.domain, err }, 'could not raise cert.renewal-failed'),
        );
      }
      // Its new due time (or its retry) is read on the next pass.
      next = Math.min(next, Date.now() + MIN_WAIT_MS);
    }
    schedule(next - Date.now());
  };

  const run = () => {
    clearTimeout(timer);
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = pass()
      .catch((e: unknown) => {
        o.log.warn({ err: e }, 'certificate check failed; trying again in a minute');
        schedule(60_000);
      })
      .finally(() => {
        running = undefined;
        if (again) {
          again = false;
          run();
        }
      });
  };

  const schedule = (ms: number) => {
    clearTimeout(timer);
    if (stopped) return;
    timer = setTimeout(run, Math.max(MIN_WAIT_MS, Math.min(DAY_MS, ms)));
    timer.unref();
  };

  const channel = store.keys.certsChannel;
  o.subscriber.on('message', (ch: string) => {
    if (ch === channel) run();
  });
  void o.subscriber.subscribe(channel).catch((e: unknown) => {
    o.log.warn({ err: e }, 'cannot follow certificate changes; checking daily only');
  });
  run();

  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
