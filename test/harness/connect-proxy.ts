// An HTTP proxy of the test's own, as a company network has one: CONNECT
// tunnels (what npm and pip use for https:// registries) and plain
// forwarding for http:// URLs. It counts what went through it, so a test
// can tell that a build used it.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';

export interface TestProxy {
  /** http://host:port (BERTH_BUILD_HTTPS_PROXY). */
  url: string;
  /** CONNECT tunnels opened, by target host:port. */
  tunnels: string[];
  /** Plain requests forwarded. */
  forwarded: number;
  close(): Promise<void>;
}

/**
 * A proxy listening on `host` (the build network's gateway, for build
 * containers to reach it). It resolves the names of `hosts` to their
 * addresses, as a company's proxy resolves names its clients cannot.
 */
export async function startConnectProxy(
  host: string,
  hosts: Readonly<Record<string, string>> = {},
): Promise<TestProxy> {
  const sockets = new Set<net.Socket>();
  const proxy: TestProxy = {
    url: '',
    tunnels: [],
    forwarded: 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server = http.createServer((req, res) => {
    proxy.forwarded++;
    const target = new URL(req.url ?? '/');
    const out = http.request(target, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    out.on('error', () => res.writeHead(502).end());
    req.pipe(out);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('connect', (req, client, head) => {
    const target = req.url ?? '';
    proxy.tunnels.push(target);
    const [h, p] = [target.slice(0, target.lastIndexOf(':')), Number(target.split(':').pop())];
    const upstream = net.connect(p, hosts[h] ?? h, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  proxy.url = `http://${host}:${(server.address() as AddressInfo).port}`;
  return proxy;
}
