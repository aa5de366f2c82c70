// A running Berth (`npm start`, its own data directory and Redis) with one
// Node.js app pushed over SSH by the real OpenSSH client and served by the
// router: what the deploy benchmarks start from.
import { execFile, spawn } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { FIXTURE_APPS_DIR } from '../harness/buildpacks.ts';
import { removeAppFromEngine, testDocker } from '../harness/docker.ts';
import { type Platform, platformKnownHosts, startPlatform } from '../harness/platform.ts';
import { request } from '../harness/router.ts';
import { opensshArgs, opensshCommand } from '../harness/ssh.ts';
import { makeKeyPair } from '../harness/ssh-keys.ts';

const run = promisify(execFile);

export interface BenchApp {
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
  /** Commits server.js answering with `marker` in its body. */
  change(marker: string): Promise<void>;
  /** A Berth command over SSH as the admin; rejects when it fails. */
  command(...args: string[]): Promise<string>;
  /** Polls the router until the app's body contains `marker`. */
  untilServed(marker: string, limitMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function benchApp(label: string, env: Record<string, string> = {}): Promise<BenchApp> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `berth-bench-${label}-`));
  const app = `${label}${Math.random().toString(36).slice(2, 6)}`;
  const admin = await makeKeyPair(dir, 'admin');
  const platform = await startPlatform({
    dataDir: path.join(dir, 'data'),
    env: { BERTH_ADMIN_PUBKEY: admin.publicPath, ...env },
  });
  const knownHosts = await platformKnownHosts(platform, path.join(dir, 'known_hosts'));
  const work = path.join(dir, app);
  await cp(path.join(FIXTURE_APPS_DIR, 'node-plain'), work, { recursive: true });
  const git = (...args: string[]) => run('git', args, { cwd: work });
  await git('init', '-q', '-b', 'main');
  await git('config', 'user.email', 'b@b');
  await git('config', 'user.name', 'b');
  await git('config', 'core.sshCommand', opensshCommand({ key: admin.privatePath, knownHosts }));
  const sshPort = platform.env.BERTH_SSH_PORT ?? '';
  await git('remote', 'add', 'deploy', `ssh://berth@127.0.0.1:${sshPort}/${app}`);
  await git('add', '-A');
  await git('commit', '-qm', 'first');
  const server = await readFile(path.join(work, 'server.js'), 'utf8');
  const routerPort = Number(platform.env.BERTH_HTTP_PORT);
  const host = `${app}.localhost`;

  const push = () =>
    new Promise<void>((resolve, reject) => {
      const child = spawn('git', ['push', '-q', 'deploy', 'main'], { cwd: work, stdio: 'ignore' });
      child.on('close', (code) =>
        code === 0 ? resolve() : reject(new Error(`git push: ${code}`)),
      );
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
    async change(marker) {
      await writeFile(
        path.join(work, 'server.js'),
        server.replace('node-plain on', `${marker} node-plain on`),
      );
      await git('commit', '-qam', marker);
    },
    async command(...args) {
      const { stdout } = await run('ssh', [
        ...opensshArgs({ port: sshPort, key: admin.privatePath, knownHosts }),
        'berth@127.0.0.1',
        ...args,
      ]);
      return stdout;
    },
    async untilServed(marker, limitMs = 120_000) {
      const deadline = performance.now() + limitMs;
      while (performance.now() < deadline) {
        const r = await request(routerPort, host).catch(() => undefined);
        if (r?.body.includes(marker)) return;
        await new Promise((res) => setTimeout(res, 20));
      }
      throw new Error(`${marker} was not served within ${limitMs} ms`);
    },
    async close() {
      const { docker } = await testDocker();
      await platform.stop();
      await platform.stopRedis();
      await removeAppFromEngine(docker, app);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
