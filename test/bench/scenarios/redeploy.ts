// Warm redeploy: a Node.js app with one source file changed, from `git push`
// to the new content being served by the app's routed instance, next to the
// same app built and started the plain way — `docker build` of an equivalent
// Dockerfile (on the same Node.js runtime image), `docker run`, first answer
// — pair by pair in one run. Berth runs under `npm start` with its own data
// directory and Redis; the push goes over SSH with the real OpenSSH client.
// (Served = the backend the route table names answers; the router, issue 6,
// will sit in front of it.)
import { execFile, spawn } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { getRoutes } from '../../../services/deployer/routes.ts';
import { FIXTURE_APPS_DIR } from '../../harness/buildpacks.ts';
import { removeAppFromEngine, testDocker } from '../../harness/docker.ts';
import { platformKnownHosts, startPlatform } from '../../harness/platform.ts';
import { opensshCommand } from '../../harness/ssh.ts';
import { makeKeyPair } from '../../harness/ssh-keys.ts';
import { figure, type Scenario } from '../scenario.ts';

const run = promisify(execFile);
const PAIRS = 5;

/** Polls `url` until its body contains `marker`. */
async function until(url: () => Promise<string | undefined>, marker: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const target = await url();
    if (target) {
      const body = await fetch(target, { signal: AbortSignal.timeout(2000) })
        .then((r) => r.text())
        .catch(() => '');
      if (body.includes(marker)) return;
    }
    await sleep(20);
  }
  throw new Error(`${marker} was not served within 120 s`);
}

function push(cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', ['push', '-q', 'deploy', 'main'], { cwd, stdio: 'ignore' });
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`git push: ${code}`))));
  });
}

export const redeployScenario: Scenario = {
  name: 'redeploy',
  description: `Node.js app, one file changed: git push to new content served vs docker build + docker run + first answer, ${PAIRS} pairs`,
  async run(log) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-bench-redeploy-'));
    const { docker } = await testDocker();
    const app = `redeploy${Math.random().toString(36).slice(2, 6)}`;
    const admin = await makeKeyPair(dir, 'admin');
    const p = await startPlatform({
      dataDir: path.join(dir, 'data'),
      env: { BERTH_ADMIN_PUBKEY: admin.publicPath, BERTH_DRAIN_TIMEOUT: '0' },
    });
    const redis = new Redis(p.env.REDIS_URL ?? '');
    const prefix = p.env.BERTH_REDIS_PREFIX ?? '';
    const plainContainers: string[] = [];
    try {
      const knownHosts = await platformKnownHosts(p, path.join(dir, 'known_hosts'));
      const work = path.join(dir, app);
      await cp(path.join(FIXTURE_APPS_DIR, 'node-plain'), work, { recursive: true });
      const git = (...args: string[]) => run('git', args, { cwd: work });
      await git('init', '-q', '-b', 'main');
      await git('config', 'user.email', 'b@b');
      await git('config', 'user.name', 'b');
      await git(
        'config',
        'core.sshCommand',
        opensshCommand({ key: admin.privatePath, knownHosts }),
      );
      await git('remote', 'add', 'deploy', `ssh://berth@127.0.0.1:${p.env.BERTH_SSH_PORT}/${app}`);
      const server = await readFile(path.join(work, 'server.js'), 'utf8');
      const change = async (marker: string) => {
        await writeFile(
          path.join(work, 'server.js'),
          server.replace('node-plain on', `${marker} node-plain on`),
        );
        await git('commit', '-qam', marker);
      };
      await git('add', '-A');
      await git('commit', '-qm', 'first');
      // The first push: Node.js is fetched, the runtime image made (not measured).
      await push(work);
      const routed = async () => {
        const backend = (await getRoutes(redis, prefix, app))?.backends[0];
        return backend ? `http://${backend}/` : undefined;
      };
      const runtime = (
        await docker.listImages({ filters: { reference: ['berth/runtime-node'] } })
      ).flatMap((i) => i.RepoTags ?? [])[0];
      if (!runtime) throw new Error('no runtime image after the first push');
      const dockerfile = path.join(dir, 'Dockerfile.plain');
      await writeFile(
        dockerfile,
        `FROM ${runtime}\nENV PATH=/app/.heroku/node/bin:$PATH NODE_ENV=production\nWORKDIR /app\nCOPY . .\nCMD ["node", "server.js"]\n`,
      );
      const plain = async (marker: string) => {
        const t0 = performance.now();
        await run('docker', ['build', '-q', '-f', dockerfile, '-t', `${app}-plain`, work], {
          env: { ...process.env, DOCKER_BUILDKIT: '0' },
        });
        const { stdout } = await run('docker', ['run', '-d', '-e', 'PORT=5000', `${app}-plain`]);
        const id = stdout.trim();
        plainContainers.push(id);
        const ip = (await docker.getContainer(id).inspect()).NetworkSettings.Networks.bridge
          ?.IPAddress;
        await until(async () => `http://${ip}:5000/`, marker);
        return performance.now() - t0;
      };
      const berth = async (marker: string) => {
        const t0 = performance.now();
        await push(work);
        await until(routed, marker);
        return performance.now() - t0;
      };
      const berthMs: number[] = [];
      const plainMs: number[] = [];
      const ratios: number[] = [];
      for (let i = 1; i <= PAIRS; i++) {
        await change(`berth-${i}`);
        const b = await berth(`berth-${i}`);
        const pl = await plain(`berth-${i}`);
        berthMs.push(b);
        plainMs.push(pl);
        ratios.push(b / pl);
        log(
          `pair ${i}: git push to served ${Math.round(b)} ms, docker build + run + answer ${Math.round(pl)} ms`,
        );
      }
      return [
        figure('warm redeploy, git push to new content served (Berth)', 'ms', berthMs),
        figure('docker build + docker run + first answer', 'ms', plainMs),
        figure('Berth / plain (per pair)', 'ratio', ratios),
      ];
    } finally {
      for (const id of plainContainers)
        await docker
          .getContainer(id)
          .remove({ force: true })
          .catch(() => {});
      await docker
        .getImage(`${app}-plain`)
        .remove({ force: true })
        .catch(() => {});
      redis.disconnect();
      await p.stop();
      await p.stopRedis();
      await removeAppFromEngine(docker, app);
      await rm(dir, { recursive: true, force: true });
    }
  },
};
