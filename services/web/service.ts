// The web service: the status page and JSON API on loopback, Prometheus'
// /metrics on a loopback port of its own (never behind the router), and the
// renewal of ACME certificates in the background (platform/certs/renewer.ts;
// orders asked for by a person, letsencrypt:enable, run in the command
// itself). The renewer ran in a process of its own until issue 17: 20 MB
// for a timer that wakes once a day. Two renewers side by side (a reload
// starts the new web beside the old) never order the same certificate at
// once: an order holds the domain's lock in Redis (platform/certs/acme.ts),
// as a command's does.
import http from 'node:http';
import type Docker from 'dockerode';
import { createDockerClient } from '../core/docker.ts';
import { inheritedSocket, offerSocket } from '../core/handover.ts';
import { dataPaths } from '../core/paths.ts';
import type { RunningService, ServiceContext } from '../core/service.ts';
import { openStore } from '../core/store/index.ts';
import { acmeOptions } from '../platform/certs/acme.ts';
import { startRenewer } from '../platform/certs/renewer.ts';
import { rolloutSettings } from '../platform/release/releases.ts';
import { PROMETHEUS_CONTENT_TYPE, renderMetrics } from './prometheus.ts';
import { build } from './server.ts';

export async function start({ config, log }: ServiceContext): Promise<RunningService> {
  const store = await openStore(config, { onError: (e) => log.warn({ err: e }, 'redis') });
  // Connected on first use, and again after a failure: the web app starts
  // (and serves its pages) whether or not the Engine answers.
  let engine: Promise<Docker> | undefined;
  const engineClient = () => {
    engine ??= createDockerClient(config).catch((e: unknown) => {
      engine = undefined;
      throw e;
    });
    return engine;
  };
  const server = build({
    store,
    log,
    domain: config.domain,
    ...(config.statusHost === config.domain ? {} : { statusHost: config.statusHost }),
    liveStreamsPerUser: config.liveStreamsPerUser,
    sshPort: config.sshPort,
    engine: engineClient,
    buildLogs: dataPaths(config.dataDir).buildLogs,
    paths: dataPaths(config.dataDir),
    releases: rolloutSettings(config),
    acme: acmeOptions(config, store),
    backups: { dataDir: config.dataDir, keep: config.datastoreBackupKeep },
  });
  // Loopback only: the router publishes the page at BERTH_STATUS_HOST, else the bare domain.
  // On a reload, the sockets of the process this one replaces (core/handover.ts).
  const [webSocket, metricsSocket] = [
    await inheritedSocket('web'),
    await inheritedSocket('metrics'),
  ];
  await server.listen({
    host: '127.0.0.1',
    port: config.webPort,
    ...(webSocket ? { handle: webSocket } : {}),
  });
  offerSocket('web', server.server);
  const metrics = http.createServer((req, res) => {
    if (req.url !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics here\n');
      return;
    }
    store.metrics.totals().then(
      (totals) => {
        const body = renderMetrics(totals);
        res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (e: unknown) => {
        log.warn({ err: e }, '/metrics failed');
        res.writeHead(503, { 'content-type': 'text/plain' }).end('Redis does not answer\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    metrics.once('error', reject);
    if (metricsSocket) metrics.listen(metricsSocket, () => resolve());
    else metrics.listen(config.metricsPort, '127.0.0.1', () => resolve());
  });
  offerSocket('metrics', metrics);
  const subscriber = store.redis.duplicate();
  subscriber.on('error', (e) => log.warn({ err: e }, 'redis'));
  const renewer = startRenewer(acmeOptions(config, store), { subscriber, log });
  return {
    endpoints: [
      { name: 'status page (loopback; auth:login)', url: `http://127.0.0.1:${config.webPort}/` },
      {
        name: 'metrics (Prometheus, loopback)',
        url: `http://127.0.0.1:${config.metricsPort}/metrics`,
      },
    ],
    async stop() {
      metrics.closeAllConnections();
      await new Promise((r) => metrics.close(r));
      await server.close();
      await renewer.stop();
      subscriber.disconnect();
      await store.close();
    },
  };
}
