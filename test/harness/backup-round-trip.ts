// A backup's whole round trip, as an operator does it: a running Berth
// with apps pushed over SSH, `berth backup > FILE` as root on the server,
// then the machine wiped (Berth stopped, its data directory and Redis keys
// gone, the apps' containers and images removed from the Engine: only this
// test's, by their app labels), Berth started again on the empty data
// directory and `berth restore < FILE`. Shared by test/integration/backup
// and the `backup` bench scenario.
import { execFile, spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { cp, mkdir, mkdtemp, open, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { connectDocker } from '../../services/core/docker.ts';
import { readArchive } from '../../services/platform/backup/archive-reader.ts';
import type { Manifest } from '../../services/platform/backup/manifest.ts';
import { FIXTURE_APPS_DIR } from './buildpacks.ts';
import { removeAppFromEngine, testDockerTarget } from './docker.ts';
import { type Platform, platformKnownHosts, startPlatform } from './platform.ts';
import { request } from './router.ts';
import { opensshArgs, opensshCommand } from './ssh.ts';
import { makeKeyPair } from './ssh-keys.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface RoundTrip {
  apps: string[];
  /** The body each app served before the backup. */
  before: Map<string, string>;
  after: Map<string, string | undefined>;
  archiveBytes: number;
  /** The manifest of the same backup taken with `ssh berth@HOST backup`, read and checked whole. */
  overSshManifest: Manifest;
  backupMs: number;
  restoreMs: number;
  restoreStatus: number;
  restoreStderr: string;
}

/** Runs the local `berth` as root on the server would, with the platform's environment. */
export function berth(
  env: Record<string, string>,
  args: string[],
  stdio: { stdin?: number; stdout?: number },
) {
  return new Promise<{ status: number; stderr: string }>((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(ROOT, 'cli/main.ts'), ...args],
      {
        cwd: ROOT, // the checkout, so --import tsx resolves; it has no `deploy` remote
        env: { ...process.env, ...env },
        stdio: [stdio.stdin ?? 'ignore', stdio.stdout ?? 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr?.on('data', (c) => {
      stderr += c;
    });
    child.on('close', (code) => resolve({ status: code ?? 1, stderr }));
  });
}

async function body(port: number, host: string, at = '/'): Promise<string | undefined> {
  const r = await request(port, host, { path: at }).catch(() => undefined);
  return r?.status === 200 ? r.body : undefined;
}

export async function backupRoundTrip(
  count: number,
  label = 'bk',
  /** Files added to each app (an app.json, say), and the path whose body is compared. */
  o: { files?: Record<string, string>; path?: string } = {},
): Promise<RoundTrip> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `berth-backup-${label}-`));
  const dataDir = path.join(dir, 'data');
  const admin = await makeKeyPair(dir, 'admin');
  const apps = Array.from(
    { length: count },
    (_, i) => `${label}${Math.random().toString(36).slice(2, 6)}${i}`,
  );
  let platform: Platform | undefined;
  try {
    platform = await startPlatform({ dataDir, env: { BERTH_ADMIN_PUBKEY: admin.publicPath } });
    const env = platform.env;
    const knownHosts = await platformKnownHosts(platform, path.join(dir, 'known_hosts'));
    const port = Number(env.BERTH_HTTP_PORT);
    const before = new Map<string, string>();
    // Pushed a few at a time: each push builds.
    for (let i = 0; i < apps.length; i += 3) {
      await Promise.all(
        apps.slice(i, i + 3).map(async (app) => {
          const work = path.join(dir, app);
          await cp(path.join(FIXTURE_APPS_DIR, 'static-site'), work, { recursive: true });
          await writeFile(
            path.join(work, 'index.html'),
            `<h1>${app} restored ${Date.now()}</h1>\n`,
          );
          for (const [name, text] of Object.entries(o.files ?? {})) {
            await writeFile(path.join(work, name), text);
          }
          const git = (...args: string[]) => run('git', args, { cwd: work });
          await git('init', '-q', '-b', 'main');
          await git('config', 'user.email', 'b@b');
          await git('config', 'user.name', 'b');
          await git(
            'config',
            'core.sshCommand',
            opensshCommand({ key: admin.privatePath, knownHosts }),
          );
          await git(
            'remote',
            'add',
            'deploy',
            `ssh://berth@127.0.0.1:${env.BERTH_SSH_PORT}/${app}`,
          );
          await git('add', '-A');
          await git('commit', '-qm', 'first');
          await git('push', '-q', 'deploy', 'main');
          const deadline = Date.now() + 120_000;
          for (;;) {
            const b = await body(port, `${app}.localhost`, o.path);
            if (b?.includes(app)) {
              before.set(app, b);
              break;
            }
            if (Date.now() > deadline) throw new Error(`${app} was not served after its push`);
            await new Promise((r) => setTimeout(r, 200));
          }
        }),
      );
    }

    const archive = path.join(dir, 'berth.tar.gz');
    const out = await open(archive, 'w', 0o600);
    const t0 = performance.now();
    const backup = await berth(env, ['backup'], { stdout: out.fd });
    await out.close();
    const backupMs = performance.now() - t0;
    if (backup.status !== 0) throw new Error(`berth backup failed:\n${backup.stderr}`);
    const archiveBytes = (await stat(archive)).size;
    // The same command over SSH, as an admin: stdout carries the binary archive unchanged.
    const overSsh = path.join(dir, 'over-ssh.tar.gz');
    const sshOut = await open(overSsh, 'w', 0o600);
    const sshArgs = opensshArgs({
      port: env.BERTH_SSH_PORT ?? '',
      key: admin.privatePath,
      knownHosts,
    });
    const sshStatus = await new Promise<number>((resolve) => {
      const child = spawn('ssh', [...sshArgs, 'berth@127.0.0.1', 'backup'], {
        stdio: ['ignore', sshOut.fd, 'ignore'],
      });
      child.on('close', (code) => resolve(code ?? 1));
    });
    await sshOut.close();
    if (sshStatus !== 0) throw new Error(`ssh backup exited ${sshStatus}`);
    const sshStage = path.join(dir, 'ssh-stage');
    await mkdir(sshStage);
    const overSshManifest = (await readArchive(createReadStream(overSsh), sshStage)).manifest;

    // The machine wiped: Berth stopped, its Redis gone with its files, the data directory emptied.
    await platform.stop();
    await platform.stopRedis();
    const { docker } = await connectDocker({ dockerHost: testDockerTarget().dockerHost });
    for (const app of apps) await removeAppFromEngine(docker, app);
    await rm(dataDir, { recursive: true, force: true });
    platform = await startPlatform({ dataDir, env });

    const input = await open(archive, 'r');
    const t1 = performance.now();
    const restore = await berth(env, ['restore'], { stdin: input.fd });
    const restoreMs = performance.now() - t1;
    await input.close();
    const after = new Map<string, string | undefined>();
    for (const app of apps) after.set(app, await body(port, `${app}.localhost`, o.path));
    return {
      apps,
      before,
      after,
      archiveBytes,
      overSshManifest,
      backupMs,
      restoreMs,
      restoreStatus: restore.status,
      restoreStderr: restore.stderr,
    };
  } finally {
    await platform?.stop();
    await platform?.stopRedis();
    await connectDocker({ dockerHost: testDockerTarget().dockerHost })
      .then(async ({ docker }) => {
        for (const app of apps) await removeAppFromEngine(docker, app);
      })
      .catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}
