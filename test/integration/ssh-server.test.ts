// The SSH front door against real clients: the OpenSSH `ssh` command for
// what users do, ssh2's own Client for what OpenSSH will not do (forge a
// signature, offer a password), raw TCP for the connection limits.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import ssh2 from 'ssh2';
import { loadConfig } from '../../services/core/config.ts';
import { BerthError } from '../../services/core/errors.ts';
import { createLogger } from '../../services/core/log.ts';
import { systemSearchPath } from '../../services/core/programs.ts';
import { Store } from '../../services/core/store/index.ts';
import { VERSION } from '../../services/core/version.ts';
import type { ExecHandler } from '../../services/ssh/exec-request.ts';
import {
  generateEd25519Key,
  HOST_KEY_FILE,
  loadOrCreateHostKey,
} from '../../services/ssh/host-key.ts';
import type { SshLimits } from '../../services/ssh/limits.ts';
import { start } from '../../services/ssh/service.ts';
import { createSshServer, type SshServer } from '../../services/ssh/ssh-server.ts';
import { freePort } from '../harness/ports.ts';
import { redisClient, sharedRedisUrl, testPrefix } from '../harness/redis.ts';
import { opensshArgs } from '../harness/ssh.ts';
import { makeKeyPair } from '../harness/ssh-keys.ts';
import { tempDir } from '../harness/tmp.ts';
import { until, within } from '../harness/wait.ts';

const dir = await tempDir('berth-ssh');
const prefix = testPrefix();
const store = new Store(await redisClient(prefix), prefix);
const [alice, bob, mallory] = await Promise.all([
  makeKeyPair(dir, 'alice'),
  makeKeyPair(dir, 'bob', 'rsa'),
  makeKeyPair(dir, 'mallory'),
]);
if (!alice || !bob || !mallory) throw new Error('no keys');
await store.users.create('alice', 'admin');
await store.users.addKey('alice', alice.publicLine);
await store.users.create('bob', 'user');
await store.users.addKey('bob', bob.publicLine);
const hostKeyDir = path.join(dir, 'data', 'ssh');
const hostKey = await loadOrCreateHostKey(hostKeyDir);

/** Every exec the test handler saw. */
const calls: { user: string; command: string; env: Record<string, string> }[] = [];
/** Set when a command's signal fires (the client went away). */
const aborted: string[] = [];

// Echoes who asked and what (and the terminal, with ssh -t); `exit N` exits
// N, `cat` copies stdin, `wait` runs until the client goes away, `throw`
// throws, `slow` takes 300 ms, `resize` prints the terminal's next size.
const echo: ExecHandler = async (actor, command, io) => {
  calls.push({ user: actor.user, command, env: { ...io.env } });
  io.stdout.write(`user=${actor.user} role=${actor.role} command=${JSON.stringify(command)}\n`);
  io.stdout.write(`env=${JSON.stringify(io.env)}\n`);
  io.stderr.write('a line on stderr\n');
  const { terminal } = io;
  if (terminal)
    io.stdout.write(`terminal=${terminal.term} ${terminal.size.rows}x${terminal.size.cols}\n`);
  if (command === 'resize' && terminal) {
    await new Promise<void>((resolve) => {
      const stop = terminal.onResize(({ rows, cols }) => {
        io.stdout.write(`resized=${rows}x${cols}\n`);
        stop();
        resolve();
      });
    });
    return 0;
  }
  if (command === 'cat') {
    io.stdin.pipe(io.stdout);
    await new Promise((resolve) => io.stdin.on('end', resolve));
    return 0;
  }
  if (command === 'wait') {
    await new Promise<void>((resolve) =>
      io.signal.addEventListener('abort', () => {
        aborted.push(command);
        resolve();
      }),
    );
    return 0;
  }
  if (command === 'slow') {
    await sleep(300);
    io.stdout.write('slow done\n');
    return 4;
  }
  if (command === 'throw') throw new Error('the handler broke');
  const exit = /^exit (\d+)$/.exec(command);
  return exit ? Number(exit[1]) : 0;
};

/** Log lines the server wrote, parsed. */
const logLines: Record<string, unknown>[] = [];
const sink = new Writable({
  write(chunk: Buffer, _enc, cb) {
    for (const line of chunk.toString().split('\n')) {
      if (line !== '') logLines.push(JSON.parse(line) as Record<string, unknown>);
    }
    cb();
  },
});
const log = createLogger('ssh', { level: 'debug', destination: sink });

interface Running {
  server: SshServer;
  port: number;
  knownHosts: string;
}

async function startServer(limits: Partial<SshLimits> = {}, privateKey = hostKey.privateKey) {
  const server = createSshServer({ hostKey: privateKey, store, log, onExec: echo, limits });
  await server.listen(0, '127.0.0.1');
  const port = server.address()?.port ?? 0;
  const knownHosts = path.join(dir, `known_hosts-${port}`);
  await writeFile(knownHosts, `[127.0.0.1]:${port} ${hostKey.publicKey}\n`);
  after(() => server.close());
  return { server, port, knownHosts } satisfies Running;
}

interface SshResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The OpenSSH client, with no user config and a known_hosts of the server's key only. */
function ssh(
  s: Running,
  key: string,
  args: string[],
  o: { input?: string; env?: Record<string, string> } = {},
): Promise<SshResult> {
  const child = spawn(
    'ssh',
    [...opensshArgs({ port: s.port, key, knownHosts: s.knownHosts }), ...args],
    { env: { ...process.env, ...o.env }, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  child.stdin.end(o.input ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}

const target = 'berth@127.0.0.1';
const main = await startServer();

describe('the OpenSSH client', () => {
  test('a listed key runs a command and gets its output and exit status', async () => {
    const r = await ssh(main, alice.privatePath, [target, 'exit 3']);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(
      r.stdout,
      'user=alice role=admin command="exit 3"\nenv={}\n',
      'stdout arrives whole before the status',
    );
    assert.equal(r.stderr, 'a line on stderr\n');
    const ok = await ssh(main, bob.privatePath, [target, 'apps:list', '--format', 'json']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^user=bob role=user command="apps:list --format json"$/m);
  });

  test('stdin reaches the handler, and megabytes flow both ways', async () => {
    const r = await ssh(main, alice.privatePath, [target, 'cat'], { input: 'hello\nworld\n' });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.endsWith('hello\nworld\n'), r.stdout);
    // More than ssh2's 2 MiB channel window, so flow control has to work.
    const big = `${'0123456789abcdef'.repeat(4096)}\n`.repeat(100);
    const copied = await ssh(main, alice.privatePath, [target, 'cat'], { input: big });
    assert.equal(copied.code, 0, copied.stderr);
    const header = 'user=alice role=admin command="cat"\nenv={}\n';
    assert.equal(copied.stdout.length, header.length + big.length);
    assert.ok(copied.stdout.startsWith(header) && copied.stdout.endsWith(big));
  });

  test('an unknown key is refused, and the log names its fingerprint, not the key', async () => {
    const before = calls.length;
    const r = await ssh(main, mallory.privatePath, [target, 'version']);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /Permission denied \(publickey\)/);
    assert.equal(calls.length, before);
    const refused = logLines.filter(
      (l) => l.msg === 'authentication refused' && l.fingerprint === mallory.fingerprint,
    );
    assert.ok(refused.length > 0);
    assert.equal(refused[0]?.reason, 'unknown key');
    assert.match(String(refused[0]?.remote), /^127\.0\.0\.1:\d+$/);
    const keyData = [alice, bob, mallory].map((k) => k.publicLine.split(' ')[1] ?? '');
    const all = JSON.stringify(logLines);
    for (const data of keyData) assert.ok(!all.includes(data.slice(20, 60)), 'no key in the log');
    const ok = logLines.find((l) => l.msg === 'authenticated' && l.user === 'alice');
    assert.equal(ok?.fingerprint, alice.fingerprint);
  });

  test('with a pty (ssh -tt) the command runs with the terminal; its lines end \\r\\n', async () => {
    const r = await ssh(main, alice.privatePath, ['-tt', target, 'exit 3'], {
      env: { TERM: 'vt220' },
    });
    assert.equal(r.code, 3, r.stderr);
    // ssh -tt with stdin not a terminal reports no size.
    assert.match(r.stdout, /^user=alice .*\r\n.*\r\nterminal=vt220 0x0\r\n$/s);
  });

  test('a shell (no command) is refused with a line saying what to do', async () => {
    const before = calls.length;
    const r = await ssh(main, alice.privatePath, [target]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /berth: this server has no shell — pass a command, e\.g\. "ssh -p \d+/);
    assert.equal(calls.length, before);
  });

  test('subsystems (sftp) are refused', async () => {
    const r = await ssh(main, alice.privatePath, ['-s', target, 'sftp']);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /subsystem request failed/);
  });

  test('local port forwarding (-L, -W) is refused', async () => {
    const localPort = await freePort();
    const child = spawn(
      'ssh',
      [
        '-F',
        '/dev/null',
        '-N',
        '-p',
        String(main.port),
        '-i',
        alice.privatePath,
        '-o',
        'IdentitiesOnly=yes',
        '-o',
        `UserKnownHostsFile=${main.knownHosts}`,
        '-o',
        'BatchMode=yes',
        '-L',
        `127.0.0.1:${localPort}:127.0.0.1:${main.port}`,
        target,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    try {
      // The client listens locally once it is logged in; a connection there asks the server.
      let received = '';
      for (let i = 0; i < 100; i++) {
        const result = await new Promise<string | undefined>((resolve) => {
          const socket = net.connect(localPort, '127.0.0.1');
          let data = '';
          socket.on('data', (d) => {
            data += d.toString();
          });
          socket.on('error', () => resolve(undefined));
          socket.on('close', () => resolve(data));
        });
        if (result !== undefined) {
          received = result;
          break;
        }
        await sleep(50);
      }
      // The server's SSH banner would come through if the forward had been allowed.
      assert.equal(received, '');
      for (let i = 0; i < 50 && !stderr.includes('open failed'); i++) await sleep(20);
      assert.match(stderr, /open failed: administratively prohibited/);
    } finally {
      child.kill('SIGTERM');
    }
    const w = await ssh(main, alice.privatePath, ['-W', `127.0.0.1:${main.port}`, target]);
    assert.equal(w.code, 255);
    assert.match(w.stderr, /administratively prohibited/);
  });

  test('remote port forwarding (-R) is refused', async () => {
    const r = await ssh(main, alice.privatePath, [
      '-o',
      'ExitOnForwardFailure=yes',
      '-R',
      `127.0.0.1:${await freePort()}:127.0.0.1:${main.port}`,
      target,
      'version',
    ]);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /remote port forwarding failed/);
  });

  test('GIT_PROTOCOL is passed; other env requests and bad values are not', async () => {
    const sendEnv = [
      '-o',
      'SendEnv=GIT_PROTOCOL',
      '-o',
      'SendEnv=BERTH_TEST_FOO',
      '-o',
      'SendEnv=LANG',
    ];
    const r = await ssh(main, alice.privatePath, [...sendEnv, target, 'git-upload-pack x'], {
      env: { GIT_PROTOCOL: 'version=2', BERTH_TEST_FOO: 'bar', LANG: 'C.UTF-8' },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(calls.at(-1)?.env, { GIT_PROTOCOL: 'version=2' });
    const bad = await ssh(main, alice.privatePath, [...sendEnv, target, 'git-upload-pack x'], {
      env: { GIT_PROTOCOL: 'version=2; rm -rf /' },
    });
    assert.equal(bad.code, 0, bad.stderr);
    assert.deepEqual(calls.at(-1)?.env, {});
  });

  test('a handler that throws gives one line on stderr and status 1', async () => {
    const r = await ssh(main, alice.privatePath, [target, 'throw']);
    assert.equal(r.code, 1);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.at(-1)?.startsWith('berth: internal error ('), true, r.stderr);
    assert.ok(!r.stderr.includes('the handler broke'), 'internal details stay in the log');
    assert.ok(logLines.some((l) => l.msg === 'exec handler failed'));
  });

  test('a command longer than the limit is refused with status 2', async () => {
    const r = await ssh(main, alice.privatePath, [target, `x${'a'.repeat(5000)}`]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /the command is 5001 characters long; the most is 4096/);
  });

  test("the client going away (Ctrl-C, kill) aborts the command's signal", async () => {
    const child = spawn(
      'ssh',
      [
        '-F',
        '/dev/null',
        '-p',
        String(main.port),
        '-i',
        alice.privatePath,
        '-o',
        'IdentitiesOnly=yes',
        '-o',
        `UserKnownHostsFile=${main.knownHosts}`,
        '-o',
        'BatchMode=yes',
        target,
        'wait',
      ],
      { stdio: ['pipe', 'pipe', 'ignore'] },
    );
    // The first output line means the handler is running.
    await new Promise((resolve) => child.stdout.once('data', resolve));
    const before = aborted.length;
    child.kill('SIGTERM');
    for (let i = 0; i < 100 && aborted.length === before; i++) await sleep(20);
    assert.equal(aborted.length, before + 1);
  });

  test('the host key is the same after a restart (StrictHostKeyChecking passes)', async () => {
    const again = await loadOrCreateHostKey(hostKeyDir);
    assert.equal(again.created, false);
    assert.equal(again.fingerprint, hostKey.fingerprint);
    assert.equal((await stat(again.path)).mode & 0o777, 0o600);
    const { stdout } = await runCapture('ssh-keygen', ['-l', '-f', `${again.path}.pub`]);
    assert.equal(stdout.split(' ')[1], hostKey.fingerprint, 'ssh-keygen agrees on the fingerprint');
    await main.server.close();
    const restarted = await startServer({}, again.privateKey);
    const r = await ssh(restarted, alice.privatePath, [target, 'version']);
    assert.equal(r.code, 0, r.stderr);
  });
});

function runCapture(cmd: string, args: string[]): Promise<{ stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.on('error', reject);
    child.on('close', () => resolve({ stdout }));
  });
}

/** Tells ssh2's client to give up (it takes `false`; @types/ssh2 does not say so). */
const noMoreMethods = false as unknown as ssh2.AnyAuthMethod;

/** Connects with ssh2's Client; resolves with how authentication went. */
function ssh2Login(
  s: Running,
  config: Partial<ssh2.ConnectConfig>,
): Promise<{ ok: boolean; error?: string; methodsLeft: string[][] }> {
  const methodsLeft: string[][] = [];
  return new Promise((resolve) => {
    const client = new ssh2.Client();
    client.on('ready', () => {
      client.end();
      resolve({ ok: true, methodsLeft });
    });
    client.on('error', (e) => {
      client.end();
      resolve({ ok: false, error: e.message, methodsLeft });
    });
    const handler = config.authHandler;
    client.connect({
      host: '127.0.0.1',
      port: s.port,
      username: 'berth',
      hostVerifier: (key: Buffer) => key.toString('base64') === hostKey.publicKey.split(' ')[1],
      ...config,
      ...(typeof handler === 'function'
        ? {
            authHandler: (left, partial, next) => {
              methodsLeft.push(left ?? []);
              return handler(left, partial, next);
            },
          }
        : {}),
    } as ssh2.ConnectConfig);
  });
}

describe("ssh2's client", () => {
  test("a pty's size and its window changes reach the command", async () => {
    const s = await startServer();
    const client = new ssh2.Client();
    const ready = new Promise<void>((resolve, reject) => {
      client.on('ready', resolve);
      client.on('error', reject);
    });
    client.connect({
      host: '127.0.0.1',
      port: s.port,
      username: 'berth',
      privateKey: await readFile(alice.privatePath),
    });
    await ready;
    const out = await new Promise<string>((resolve, reject) => {
      client.exec('resize', { pty: { rows: 24, cols: 80, term: 'xterm-256color' } }, (e, ch) => {
        if (e) return reject(e);
        let text = '';
        ch.on('data', (d: Buffer) => {
          text += d;
          if (text.includes('terminal=')) ch.setWindow(40, 120, 0, 0);
        });
        ch.stderr.on('data', () => {});
        ch.on('close', () => resolve(text));
      });
    });
    client.end();
    assert.match(out, /terminal=xterm-256color 24x80\r\nresized=40x120\r\n$/);
  });

  test('a listed public key with a signature from another private key is refused', async () => {
    const s = await startServer();
    const listed = ssh2.utils.parseKey(alice.publicLine);
    const other = ssh2.utils.parseKey(await readFile(mallory.privatePath));
    assert.ok(!(listed instanceof Error) && !(other instanceof Error));
    // Offers alice's public key; signs with mallory's private key.
    const forged = Object.create(other, {
      getPublicSSH: { value: () => listed.getPublicSSH() },
    }) as ssh2.ParsedKey;
    let attempts = 0;
    const before = calls.length;
    const r = await ssh2Login(s, {
      authHandler: (_left, _partial, next) => {
        attempts++;
        next(
          attempts === 1 ? { type: 'publickey', username: 'berth', key: forged } : noMoreMethods,
        );
      },
    });
    assert.equal(r.ok, false);
    assert.match(r.error ?? '', /All configured authentication methods failed/);
    assert.equal(calls.length, before);
    // The probe was accepted (the key is listed): it was the signature that failed.
    const refusal = logLines.findLast((l) => l.msg === 'authentication refused');
    assert.equal(refusal?.reason, 'bad signature');
    assert.equal(refusal?.fingerprint, alice.fingerprint);
    assert.equal(refusal?.user, 'alice');
    // The genuine key still gets in.
    const genuine = await ssh2Login(s, { privateKey: await readFile(alice.privatePath) });
    assert.equal(genuine.ok, true, genuine.error);
  });

  test('password, keyboard-interactive and none are refused; only publickey is offered', async () => {
    const s = await startServer();
    let step = 0;
    const r = await ssh2Login(s, {
      authHandler: (_left, _partial, next) => {
        const methods: ssh2.AnyAuthMethod[] = [
          { type: 'none', username: 'berth' },
          { type: 'password', username: 'berth', password: 'hunter2' },
          {
            type: 'keyboard-interactive',
            username: 'berth',
            prompt: (
              _n: string,
              _i: string,
              _l: string,
              _p: unknown,
              finish: (r: string[]) => void,
            ) => finish(['hunter2']),
          },
        ];
        const method = methods[step];
        if (method) step++;
        next(method ?? noMoreMethods);
      },
    });
    assert.equal(r.ok, false);
    assert.equal(step, 3);
    for (const left of r.methodsLeft.slice(1)) assert.deepEqual(left, ['publickey']);
  });

  test('an authenticated connection with nothing running is closed after the idle timeout', async () => {
    const s = await startServer({ idleTimeoutMs: 300 });
    const client = new ssh2.Client();
    const t0 = performance.now();
    const closed = new Promise<number>((resolve) =>
      client.on('close', () => resolve(performance.now() - t0)),
    );
    client.on('error', () => undefined);
    client.connect({
      host: '127.0.0.1',
      port: s.port,
      username: 'berth',
      privateKey: await readFile(alice.privatePath),
    });
    const ms = await closed;
    assert.ok(ms >= 300 && ms < 3000, `closed after ${ms} ms`);
  });
});

/** A raw TCP connection: resolves with what the server sent and whether it closed within `ms`. */
function rawConnect(
  port: number,
  localAddress?: string,
): Promise<{ socket: net.Socket; banner: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({
      port,
      host: '127.0.0.1',
      ...(localAddress ? { localAddress } : {}),
    });
    let data = '';
    const banner = new Promise<string>((done) => {
      socket.on('data', (d) => {
        data += d.toString('latin1');
        if (data.includes('\n')) done(data);
      });
      socket.on('close', () => done(data));
    });
    socket.on('error', () => undefined);
    socket.once('connect', () => resolve({ socket, banner }));
    socket.once('error', reject);
  });
}

interface Held {
  child: ChildProcess;
  /** Resolves when the client's connection has ended. */
  closed: Promise<void>;
}

/** `ssh -N`: a signed-in connection that runs nothing, held open until killed or closed by the server. */
function holdOpen(s: Running, key: string): Held {
  const child = spawn(
    'ssh',
    ['-N', ...opensshArgs({ port: s.port, key, knownHosts: s.knownHosts }), target],
    { stdio: 'ignore' },
  );
  const closed = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, closed };
}

/**
 * `count` of bob's `ssh -N` connections, each started once the one before
 * has signed in (so they are idle from oldest to newest); killed after the test.
 */
async function holdSignedIn(t: TestContext, s: Running, count: number): Promise<Held[]> {
  const held: Held[] = [];
  t.after(() => {
    for (const h of held) h.child.kill();
  });
  for (let i = 0; i < count; i++) {
    const before = signIns('bob');
    held.push(holdOpen(s, bob.privatePath));
    await until('bob signed in', () => signIns('bob') > before);
  }
  return held;
}

/** How many times `user` has signed in, by the server's log. */
const signIns = (user: string) =>
  logLines.filter((l) => l.msg === 'authenticated' && l.user === user).length;

const closedWithin = (socket: net.Socket, ms: number) =>
  new Promise<boolean>((resolve) => {
    if (socket.destroyed || socket.readyState === 'closed') return resolve(true);
    const timer = setTimeout(() => resolve(false), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });

describe('connection limits', () => {
  test('connections not signed in beyond the per-source cap are closed at once, before any SSH', async () => {
    const s = await startServer({ maxUnauthenticatedPerSource: 3 });
    const open = await Promise.all([1, 2, 3].map(() => rawConnect(s.port)));
    for (const c of open) assert.match(await c.banner, /^SSH-2\.0-Berth/);
    const excess = await rawConnect(s.port);
    assert.equal(await excess.banner, '', 'no SSH banner for the excess connection');
    assert.equal(await closedWithin(excess.socket, 1000), true);
    assert.ok(
      logLines.some((l) => l.msg === 'connection refused: too many not signed in from this source'),
    );
    // A closed connection frees its slot.
    open[0]?.socket.destroy();
    await sleep(100);
    const next = await rawConnect(s.port);
    assert.match(await next.banner, /^SSH-2\.0-Berth/);
    for (const c of [...open, next]) c.socket.destroy();
  });

  test('signed-in connections do not count against the per-source cap', async () => {
    const s = await startServer({ maxUnauthenticatedPerSource: 2 });
    // Five from one address, as a CI runner pushing five apps, each started
    // once the one before has signed in: all five run at the same time.
    const runs: Promise<SshResult>[] = [];
    const slowCalls = () => calls.filter((c) => c.command === 'slow').length;
    const before = slowCalls();
    for (let i = 1; i <= 5; i++) {
      runs.push(ssh(s, alice.privatePath, [target, 'slow']));
      for (let w = 0; w < 200 && slowCalls() < before + i; w++) await sleep(5);
    }
    for (const r of await Promise.all(runs)) {
      assert.equal(r.code, 4, r.stderr);
      assert.match(r.stdout, /slow done/);
    }
  });

  test("one user's idle connections past maxConnectionsPerUser close, longest idle first", async (t) => {
    const s = await startServer({ maxConnectionsPerUser: 3 });
    const held = await holdSignedIn(t, s, 6);
    await within(
      Promise.all(held.slice(0, 3).map((h) => h.closed)),
      'the oldest three closed',
      5000,
    );
    for (const h of held.slice(3)) assert.equal(h.child.exitCode, null, 'the three newest stay');
    // A command still gets in (the oldest idle one makes room), and so does anyone else.
    assert.equal((await ssh(s, bob.privatePath, [target, 'exit 0'])).code, 0);
    await within(held[3]?.closed ?? Promise.reject(), 'the oldest idle one closed', 5000);
    assert.equal((await ssh(s, alice.privatePath, [target, 'exit 0'])).code, 0);
    assert.ok(
      logLines.some((l) => String(l.msg).startsWith('closed for a newer connection of bob')),
    );
  });

  test("the users' share leaves admins a reserve, and a newcomer closes the longest idle", async (t) => {
    const s = await startServer({ maxConnections: 4, adminReserve: 2, maxConnectionsPerUser: 10 });
    const held = await holdSignedIn(t, s, 2);
    // The users' share (4 - 2) is full: an admin still gets in and closes nobody's.
    assert.equal((await ssh(s, alice.privatePath, [target, 'exit 0'])).code, 0);
    assert.deepEqual(
      held.map((h) => h.child.exitCode),
      [null, null],
    );
    // A user's new one closes the longest idle of the share.
    assert.equal((await ssh(s, bob.privatePath, [target, 'exit 0'])).code, 0);
    await within(held[0]?.closed ?? Promise.reject(), 'the longest idle one closed', 5000);
    assert.equal(held[1]?.child.exitCode, null);
  });

  test('a flood of connections that never sign in, from many addresses, cannot keep an admin out', async (t) => {
    const s = await startServer({ maxUnauthenticated: 8, maxUnauthenticatedPerSource: 30 });
    const flood: net.Socket[] = [];
    t.after(() => {
      for (const c of flood) c.destroy();
    });
    for (let i = 0; i < 40; i++) {
      flood.push((await rawConnect(s.port, `127.0.0.${2 + (i % 10)}`)).socket);
    }
    await sleep(100);
    assert.ok(flood.filter((c) => !c.destroyed).length <= 8, 'at most 8 of the flood wait');
    const t0 = performance.now();
    const r = await ssh(s, alice.privatePath, [target, 'exit 0']);
    t.diagnostic(
      `an admin's command answered ${Math.round(performance.now() - t0)} ms into the flood`,
    );
    assert.equal(r.code, 0, r.stderr);
  });

  test('a connection that never authenticates is dropped after the auth timeout', async () => {
    const s = await startServer({ authTimeoutMs: 400 });
    const t0 = performance.now();
    const c = await rawConnect(s.port);
    assert.match(await c.banner, /^SSH-2\.0-Berth/);
    assert.equal(await closedWithin(c.socket, 3000), true);
    const ms = performance.now() - t0;
    assert.ok(ms >= 350, `dropped after ${ms} ms`);
    assert.ok(logLines.some((l) => l.msg === 'dropped: not authenticated in time'));
  });

  test('close() lets a running command finish and send its status', async () => {
    const s = await startServer();
    const slowCalls = () => calls.filter((c) => c.command === 'slow').length;
    const before = slowCalls();
    const running = ssh(s, alice.privatePath, [target, 'slow']);
    for (let i = 0; i < 100 && slowCalls() === before; i++) await sleep(10);
    await s.server.close();
    const r = await running;
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stdout, /slow done/);
    // Closed: nobody gets in any more.
    const refused = await ssh(s, alice.privatePath, [target, 'version']);
    assert.equal(refused.code, 255);
  });
});

describe('the host key', () => {
  test('made keys always parse (ssh2 alone makes a malformed one about 1 in 256)', async () => {
    for (let i = 0; i < 1000; i++) {
      const text = await generateEd25519Key('t');
      const key = ssh2.utils.parseKey(text);
      assert.ok(!(key instanceof Error), `key ${i}: ${key instanceof Error ? key.message : ''}`);
      assert.equal(key.getPublicSSH().length, 51);
    }
  });

  test('two processes starting at once end up with the same key', async () => {
    const keyDir = path.join(dir, 'race');
    const keys = await Promise.all([1, 2, 3, 4].map(() => loadOrCreateHostKey(keyDir)));
    assert.equal(new Set(keys.map((k) => k.fingerprint)).size, 1);
    assert.equal(keys.filter((k) => k.created).length, 1);
  });

  test('a key others can read is made 0600; a broken key is reported, never replaced', async () => {
    const keyDir = path.join(dir, 'modes');
    const made = await loadOrCreateHostKey(keyDir);
    await chmod(made.path, 0o644);
    const again = await loadOrCreateHostKey(keyDir);
    assert.equal(again.tightened, true);
    assert.equal((await stat(made.path)).mode & 0o777, 0o600);

    const brokenDir = path.join(dir, 'broken');
    await mkdir(brokenDir);
    const broken = path.join(brokenDir, HOST_KEY_FILE);
    await writeFile(broken, made.privateKey.slice(0, 200), { mode: 0o600 });
    await assert.rejects(
      loadOrCreateHostKey(brokenDir),
      (e: unknown) => e instanceof BerthError && e.code === 'BERTH_E_HOST_KEY',
    );
    assert.equal(await readFile(broken, 'utf8'), made.privateKey.slice(0, 200));
  });
});

describe('the ssh service', () => {
  test('starts on BERTH_SSH_PORT with a host key under the data dir; commands reach the dispatcher', async () => {
    const dataDir = path.join(dir, 'service-data');
    const config = loadConfig({
      BERTH_DATA_DIR: dataDir,
      BERTH_SSH_PORT: String(await freePort()),
      BERTH_WEB_PORT: String(await freePort()),
      BERTH_METRICS_PORT: String(await freePort()),
      REDIS_URL: await sharedRedisUrl(),
      BERTH_REDIS_PREFIX: prefix,
    });
    const running = await start({
      config,
      log: createLogger('ssh', { level: 'silent' }),
      searchPath: systemSearchPath(process.env.PATH),
    });
    try {
      assert.deepEqual(running.endpoints, [
        { name: 'SSH (git push, commands)', url: `ssh://berth@localhost:${config.sshPort}` },
      ]);
      const key = await loadOrCreateHostKey(path.join(dataDir, 'ssh'));
      assert.equal(key.created, false);
      const knownHosts = path.join(dir, 'known_hosts-service');
      await writeFile(knownHosts, `[127.0.0.1]:${config.sshPort} ${key.publicKey}\n`);
      const s = { port: config.sshPort, knownHosts } as Running;
      const v = await ssh(s, alice.privatePath, [target, 'version']);
      assert.equal(v.code, 0, v.stderr);
      assert.equal(v.stdout, `berth ${VERSION}\n`);
      const list = await ssh(s, alice.privatePath, [target, 'apps:list', '--format', 'json']);
      assert.equal(list.code, 0, list.stderr);
      assert.ok(Array.isArray(JSON.parse(list.stdout)));
      const unknown = await ssh(s, alice.privatePath, [target, 'apps:explode']);
      assert.equal(unknown.code, 2);
      assert.equal(
        unknown.stderr,
        'berth: unknown command "apps:explode" — run "berth help" for the commands\n',
      );
    } finally {
      await running.stop();
    }
  });
});
