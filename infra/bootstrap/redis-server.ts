// Starts a redis-server that Berth owns: bound to loopback, its files in a
// directory of ours, with the append-only file written before each reply
// (appendfsync no), so that a change Berth acknowledged survives kill -9 of
// Redis (the write() is done; the kernel holds it). The fsync is Berth's:
// `npm start` flushes the file once a second (../redis-aof-flush.ts), so a
// crash of the machine loses at most about the last second.
//
// Not "appendfsync everysec": while its background fsync of the last second
// is still running (a slow or busy disk), Redis 7.0 postpones writing new
// changes to the file for up to 2 s and still replies, so a kill -9 then
// loses what it acknowledged (aof.c flushAppendOnlyFile; seen in 3 of 8
// tries with 160 MB dirty; test/integration/store.test.ts reproduces it).
// With "no" it never postpones the write. Not "appendfsync always" either:
// with it, Redis exits on the first AOF write that fails ("Can't recover
// from AOF write error when the AOF fsync policy is 'always'. Exiting..."),
// so a full disk stopped Berth's store for good, nobody being there to start
// it again. With "no", as with everysec, Redis keeps running, refuses writes
// (MISCONF) and PING until the write goes through, retries it every second
// by itself, and takes writes again once there is room (issue 17, item 6;
// test/integration/disk-full-redis.test.ts). WAITAOF (Redis 7.2) would let
// each write wait for its fsync; Debian 12 has 7.0.
import { spawn } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface RedisServerOptions {
  dir: string;
  port: number;
  host?: string;
  /** Detach: the server outlives this process (npm start). Default false. */
  daemonize?: boolean;
}

export interface RedisServer {
  url: string;
  pid: number;
  dir: string;
}

/** The fsync policy of Berth's own Redis (see the top of this file). */
export const AOF_FSYNC = 'no';

export function redisArgs(o: RedisServerOptions): string[] {
  return [
    '--bind',
    o.host ?? '127.0.0.1',
    '--port',
    String(o.port),
    '--dir',
    o.dir,
    '--appendonly',
    'yes',
    '--appendfsync',
    AOF_FSYNC,
    '--save',
    '',
    '--protected-mode',
    'yes',
    '--pidfile',
    path.join(o.dir, 'redis.pid'),
    '--logfile',
    path.join(o.dir, 'redis.log'),
    '--daemonize',
    o.daemonize ? 'yes' : 'no',
  ];
}

/** Resolves once the server answers PING; rejects with its log's last line if it does not. */
export async function startRedisServer(o: RedisServerOptions): Promise<RedisServer> {
  await mkdir(o.dir, { recursive: true, mode: 0o700 });
  const child = spawn('redis-server', redisArgs(o), {
    stdio: 'ignore',
    detached: o.daemonize === true,
  });
  let exited: string | undefined;
  child.on('exit', (code, signal) => {
    if (!o.daemonize || code !== 0) exited = signal ?? `exit code ${code}`;
  });
  child.on('error', (e) => {
    exited = e.message;
  });
  // Callers track the server by pid; the child handle must not keep this process alive.
  child.unref();
  const host = o.host ?? '127.0.0.1';
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (await pingRedis(host, o.port)) {
      const pid = o.daemonize
        ? Number((await readFile(path.join(o.dir, 'redis.pid'), 'utf8')).trim())
        : (child.pid ?? 0);
      return { url: `redis://${host}:${o.port}`, pid, dir: o.dir };
    }
    if (exited !== undefined) break;
    await sleep(50);
  }
  const log = await readFile(path.join(o.dir, 'redis.log'), 'utf8').catch(() => '');
  const last = log.trim().split('\n').at(-1) ?? '';
  throw new Error(`redis-server did not start (${exited ?? 'timeout'})${last ? `: ${last}` : ''}`);
}

/** True when a Redis server answers PING at host:port within the timeout. */
export function pingRedis(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let buffer = '';
    const finish = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.on('error', () => finish(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d) => {
      buffer += d.toString('latin1');
      // +PONG; -NOAUTH when a password is needed; -MISCONF when it cannot
      // write its files (a full disk): each time a Redis answers.
      if (buffer.includes('\r\n')) finish(/^(\+PONG|-NOAUTH|-MISCONF)/.test(buffer));
    });
  });
}
