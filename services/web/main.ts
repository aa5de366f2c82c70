import { runService } from '../core/service.ts';
import { openStore } from '../core/store/index.ts';
import { build } from './app.ts';

await runService('web', async ({ config, log }) => {
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
});
