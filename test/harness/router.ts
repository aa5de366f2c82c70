// Berth's router as its own service process (proxy/main.ts, the way the
// supervisor runs it), on a free port against the test's Redis prefix, plus
// small HTTP clients that talk to it on loopback with a chosen Host.
import { type ChildProcess, fork } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { after } from 'node:test';
import tls from 'node:tls';
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
  /** The checkout whose router runs; default this one (a bench compares another in the same run). */
  root?: string;
  /** Ports of a router started before (a second primary that adopts its router processes). */
  ports?: { http: number; https: number };
}): Promise<TestRouter> {
  const port = o.ports?.http ?? (await freePort());
  const httpsPort = o.ports?.https ?? (await freePort());
  const root = o.root ?? ROOT;
  const child = fork(path.join(root, 'proxy/main.ts'), [], {
    cwd: root,
    // Its own process group, which its router processes join: they outlive
    // the primary by design, so the group is what this file ends, whatever
    // a test did (see the exit hook below).
    detached: true,
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
  const group = child.pid as number;
  process.on('exit', () => {
    try {
      process.kill(-group, 'SIGKILL');
    } catch {}
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

/** One HTTPS request to the router on a fresh connection, SNI and Host both `host` (any certificate accepted). */
export function httpsRequest(
  port: number,
  host: string,
  path = '/',
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        servername: host,
        path,
        method,
        headers: { host, ...headers },
        rejectUnauthorized: false,
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** The certificate a TLS handshake with the router presented: its serial and common name. */
export interface Peer {
  serial: string;
  cn: string;
}

/** One TLS handshake on a fresh connection; without a servername, no SNI (Node.js sends none to an IP address). */
export function handshake(port: number, servername?: string): Promise<Peer> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      ...(servername === undefined ? {} : { servername }),
      rejectUnauthorized: false,
    });
    socket.setTimeout(5000, () => socket.destroy(new Error('handshake timed out')));
    socket.once('error', reject);
    socket.once('secureConnect', () => {
      const cert = socket.getPeerCertificate();
      socket.end();
      const cn = cert.subject?.CN;
      resolve({ serial: cert.serialNumber, cn: Array.isArray(cn) ? (cn[0] ?? '') : (cn ?? '') });
    });
  });
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
