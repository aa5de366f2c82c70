import { Redis } from 'ioredis';
import { runService } from '../core/service.ts';
import { build } from './app.ts';

await runService('web', async ({ config, log }) => {
  const redis = new Redis(config.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 });
  await redis.connect();
  const app = build({ redis, log });
  // Loopback only: the router publishes the page at the bare domain (issue 7).
  await app.listen({ host: '127.0.0.1', port: config.webPort });
  return {
    endpoints: [
      { name: 'status page (admin, loopback)', url: `http://127.0.0.1:${config.webPort}/` },
    ],
    async stop() {
      await app.close();
      redis.disconnect();
    },
  };
});
