// Berth's router as its own service process (proxy/main.ts, the way the
// supervisor runs it), on a free port against the test's Redis prefix, plus
// small HTTP clients that talk to it on loopback with a chosen Host.
import { type ChildProcess, fork } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { ServiceMessage } from '../../services/core/service.ts';
import { httpRequest } from './http.ts';
import { freePort } from './ports.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface TestRouter {
  port: number;
  httpsPort: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** The caller stops it (an after hook registered in a before hook would run at once). */
export async function startRouter(o: {
  redisUrl: string;
  prefix: string;
  domain?: string;
  env?: Record<string, string>;
}): Promise<TestRouter> {
  const port = await freePort();
  const httpsPort = await freePort();
  const child = fork(path.join(ROOT, 'proxy/main.ts'), [], {
    cwd: ROOT,
    execArgv: ['--import', 'tsx'],
    env: {
      ...process.env,
      BERTH_HTTP_PORT: String(port),
      BERTH_HTTPS_PORT: String(httpsPort),
      BERTH_WEB_PORT: String(await freePort()),
      BERTH_METRICS_PORT: String(await freePort()),
      BERTH_SSH_PORT: String(await freePort()),
      BERTH_DOMAIN: o.domain ?? 'berth.test',
      REDIS_URL: o.redisUrl,
      BERTH_REDIS_PREFIX: o.prefix,
      BERTH_LOG_LEVEL: 'error',
      ...o.env,
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await new Promise<void>((resolve, reject) => {
    child.on('message', (m: ServiceMessage) => {
      if (m.type === 'ready') resolve();
      if (m.type === 'failed') reject(new Error(m.error));
    });
    child.once('exit', (code) => reject(new Error(`router exited with ${code} before ready`)));
  });
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  return { port, httpsPort, child, stop };
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request to the router on loopback for `host` (a fresh connection unless an agent is given). */
export async function request(
  port: number,
  host: string,
  o: {
    path?: string;
    method?: string;
    headers?: http.OutgoingHttpHeaders;
    body?: string;
    agent?: http.Agent | false;
  } = {},
): Promise<Answer> {
  const answer = await httpRequest({
    host: '127.0.0.1',
    port,
    path: o.path ?? '/',
    method: o.method ?? 'GET',
    headers: { host, ...o.headers },
    agent: o.agent ?? false,
    ...(o.body === undefined ? {} : { body: o.body }),
  });
  return { ...answer, body: answer.body.toString() };
}

/**
 * A backend on loopback: answers with `name` and what it received, unless
 * `handler` says otherwise. Closed when the test (or file) ends.
 *
 * Call it at a file's top level or in a test, not in a before() hook: the
 * after() it registers would belong to the hook and run as soon as the hook
 * ends (it closed a backend and deleted Pebble's files under the full suite).
 */
export async function startBackend(
  name: string,
  handler?: http.RequestListener,
): Promise<{ address: string; server: http.Server; requests: http.IncomingHttpHeaders[] }> {
  const requests: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req.headers);
    if (handler) return handler(req, res);
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ name, headers: req.headers, url: req.url }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  after(() => {
    server.closeAllConnections();
    server.close();
  });
  const { port } = server.address() as { port: number };
  return { address: `127.0.0.1:${port}`, server, requests };
}
