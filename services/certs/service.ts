// The certs service: renews ACME certificates in the background (renewer.ts).
// Orders asked for by a person (letsencrypt:enable) run in the command
// itself, with the same functions, so they can show their progress.
import type { RunningService, ServiceContext } from '../core/service.ts';
import { openStore } from '../core/store/index.ts';
import { acmeOptions } from '../platform/certs/acme.ts';
import { startRenewer } from '../platform/certs/renewer.ts';

export async function start({ config, log }: ServiceContext): Promise<RunningService> {
  const store = await openStore(config, { onError: (e) => log.warn({ err: e }, 'redis') });
  const subscriber = store.redis.duplicate();
  subscriber.on('error', (e) => log.warn({ err: e }, 'redis'));
  const renewer = startRenewer(acmeOptions(config, store), { subscriber, log });
  return {
    endpoints: [],
    async stop() {
      await renewer.stop();
      subscriber.disconnect();
      await store.close();
    },
  };
}
