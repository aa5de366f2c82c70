import net from 'node:net';

// Ports are handed out below Linux's ephemeral range (32768–60999 by
// default), from which the kernel also picks the local ports of outgoing
// connections: a port found free there can be taken by some test's client
// connection before the service that was given it binds it (an EADDRINUSE
// under the full suite's load). Random within the range, so that test files
// running at once rarely pick the same one.
const LOW = 20_000;
const HIGH = 32_000;

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * Ports this process handed out already: a port is only bound later by
 * whoever got it, so without this two calls could return the same one (a
 * router given one port for SSH and HTTPS, refused by its config check).
 */
const handedOut = new Set<number>();

/** A TCP port that was free a moment ago on loopback, outside the ephemeral range, never the same twice in a process. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (handedOut.has(port)) continue;
    if (await canListen(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port between ${LOW} and ${HIGH} after 100 tries`);
}
