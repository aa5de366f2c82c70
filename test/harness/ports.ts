import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { isAlive } from '../../infra/bootstrap/processes.ts';

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

/**
 * The same between the test files that run at once (npm test runs four),
 * each in its own process: a port handed out is claimed by a file named
 * for it holding the process id, made only if absent, and removed when the
 * process exits. A claim whose process is gone (killed) is taken over.
 */
const CLAIMS = path.join(os.tmpdir(), 'berth-test-ports');

function claim(port: number): boolean {
  mkdirSync(CLAIMS, { recursive: true });
  const file = path.join(CLAIMS, String(port));
  const take = () => {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      return true;
    } catch {
      return false;
    }
  };
  if (take()) return true;
  let holder = 0;
  try {
    holder = Number(readFileSync(file, 'utf8'));
  } catch {
    // released meanwhile
  }
  if (Number.isInteger(holder) && holder > 0 && isAlive(holder)) return false;
  // A stale claim: removed, then taken as new, so of two processes taking
  // it over at once only one gets it.
  try {
    unlinkSync(file);
  } catch {
    // the other one removed it first
  }
  return take();
}

process.on('exit', () => {
  for (const port of handedOut) {
    try {
      unlinkSync(path.join(CLAIMS, String(port)));
    } catch {
      // taken over, or removed already
    }
  }
});

/** A TCP port that was free a moment ago on loopback, outside the ephemeral range, never the same twice among the test files running. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (handedOut.has(port) || !claim(port)) continue;
    handedOut.add(port);
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port between ${LOW} and ${HIGH} after 100 tries`);
}
