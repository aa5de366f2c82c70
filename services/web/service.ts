// The web service: the status page and JSON API on loopback.
import type { RunningService, ServiceContext } from '../core/service.ts';
import { openStore } from '../core/store/index.ts';
import { build } from './app.ts';

export async function start({ config, log }: ServiceContext): Promise<RunningService> {
  const store = await openStore(config, { onError: (e) => log.warn({ err: e }, 'redis') });
  const app = build({ store, log, domain: config.domain });
  // Loopback only: the router publishes the page at the bare domain (issue 7).
  await app.listen({ host: '127.0.0.1', port: config.webPort });
  return {
    endpoints: [
      { name: 'status page (admin, loopback)', url: `http://127.0.0.1:${config.webPort}/` },
    ],
    async stop() {
      await app.close();
      await store.close();
    },
  };
}
