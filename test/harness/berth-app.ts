// A running Berth (`npm start`, its own data directory and Redis) with one
// app from test/fixtures/apps checked out, pushed over SSH by the real
// OpenSSH client and served by the router: what the deploy benchmarks and
// end-to-end tests start from.
import { execFile, spawn } from 'node:child_process';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { connectDocker } from '../../services/core/docker.ts';
import { FIXTURE_APPS_DIR } from './buildpacks.ts';
import { removeAppFromEngine, testDockerTarget } from './docker.ts';
import { type Platform, platformKnownHosts, startPlatform } from './platform.ts';
import { request } from './router.ts';
import { opensshArgs, opensshCommand } from './ssh.ts';
import { makeKeyPair } from './ssh-keys.ts';

const run = promisify(execFile);

export interface BerthWithApp {
  platform: Platform;
  dir: string;
  app: string;
  /** The app's checkout. */
  work: string;
  /** The router's port and the app's Host there. */
  routerPort: number;
  host: string;
  git(...args: string[]): Promise<{ stdout: string }>;
  /** `git push deploy main`; rejects when the push fails. */
  push(): Promise<void>;
  /** `git push REMOTE main` (default deploy), with all it printed (the remote's lines come on stderr). */
  pushWithOutput(remote?: string): Promise<{ code: number; out: string }>;
  /** Writes a file of the checkout (relative path) and commits it. */
  commitFile(file: string, content: string): Promise<void>;
  /** `ssh` arguments up to and with the destination, as the admin. */
  ssh: string[];
  /** A Berth command over SSH as the admin; rejects when it fails. */
  command(...args: string[]): Promise<string>;
  /** Polls the router until the app's body (or `host`'s: another app of this Berth) contains `marker`. */
  untilServed(marker: string, limitMs?: number, host?: string): Promise<void>;
  close(): Promise<void>;
}

export async function berthWithApp(
  label: string,
  env: Record<string, string> = {},
  /** A folder of test/fixtures/apps. */
  fixture = 'node-plain',
): Promise<BerthWithApp> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `berth-bench-${label}-`));
  const app = `${label}${Math.random().toString(36).slice(2, 6)}`;
  const admin = await makeKeyPair(dir, 'admin');
  const platform = await startPlatform({
    dataDir: path.join(dir, 'data'),
    env: { BERTH_ADMIN_PUBKEY: admin.publicPath, ...env },
  });
  const knownHosts = await platformKnownHosts(platform, path.join(dir, 'known_hosts'));
  const work = path.join(dir, app);
  await cp(path.join(FIXTURE_APPS_DIR, fixture), work, { recursive: true });
  const git = (...args: string[]) => run('git', args, { cwd: work });
  await git('init', '-q', '-b', 'main');
  await git('config', 'user.email', 'b@b');
  await git('config', 'user.name', 'b');
  await git('config', 'core.sshCommand', opensshCommand({ key: admin.privatePath, knownHosts }));
  const sshPort = platform.env.BERTH_SSH_PORT ?? '';
  await git('remote', 'add', 'deploy', `ssh://berth@127.0.0.1:${sshPort}/${app}`);
  await git('add', '-A');
  await git('commit', '-qm', 'first');
  const ssh = [
    ...opensshArgs({ port: sshPort, key: admin.privatePath, knownHosts }),
    'berth@127.0.0.1',
  ];
  const routerPort = Number(platform.env.BERTH_HTTP_PORT);
  const host = `${app}.localhost`;

  const push = () =>
    new Promise<void>((resolve, reject) => {
      const child = spawn('git', ['push', '-q', 'deploy', 'main'], {
        cwd: work,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      // What the push said, for the error: its last lines name the cause.
      let said = '';
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (d: string) => {
        said = (said + d).slice(-4000);
      });
      child.on('close', (code) =>
        code === 0 ? resolve() : reject(new Error(`git push: ${code}\n${said}`)),
      );
    });

  const pushWithOutput = (remote = 'deploy') =>
    new Promise<{ code: number; out: string }>((resolve) => {
      const child = spawn('git', ['push', remote, 'main'], {
        cwd: work,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d;
      });
      child.stderr.on('data', (d: Buffer) => {
        out += d;
      });
      child.on('close', (code) => resolve({ code: code ?? 1, out }));
    });

  return {
    platform,
    dir,
    app,
    work,
    routerPort,
    host,
    git,
    push,
    pushWithOutput,
    ssh,
    async commitFile(file, content) {
      await writeFile(path.join(work, file), content);
      await git('add', file);
      await git('commit', '-qm', `change ${file}`);
    },
    async command(...args) {
      const { stdout } = await run('ssh', [...ssh, ...args]);
      return stdout;
    },
    async untilServed(marker, limitMs = 120_000, served = host) {
      const deadline = performance.now() + limitMs;
      while (performance.now() < deadline) {
        const r = await request(routerPort, served).catch(() => undefined);
        if (r?.body.includes(marker)) return;
        await new Promise((res) => setTimeout(res, 20));
      }
      throw new Error(`${marker} was not served by ${served} within ${limitMs} ms`);
    },
    async close() {
      // The platform first: nothing below may keep it running.
      await platform.stop();
      await platform.stopRedis();
      // Then the app's containers and images on the platform's own engine
      // (a test may give it a private one, which may be gone by now).
      await connectDocker({ dockerHost: platform.env.DOCKER_HOST ?? testDockerTarget().dockerHost })
        .then(({ docker }) => removeAppFromEngine(docker, app))
        .catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}
