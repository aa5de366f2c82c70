// Warm redeploy: a Node.js app with one source file changed, from `git push`
// to the new content being served through Berth's router, next to the same
// app built and started the plain way — `docker build` of an equivalent
// Dockerfile (on the same Node.js runtime image), `docker run`, first answer
// — pair by pair in one run. Berth runs under `npm start` with its own data
// directory and Redis; the push goes over SSH with the real OpenSSH client.
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { berthWithApp } from '../../harness/berth-app.ts';
import { testDocker } from '../../harness/docker.ts';
import { figure, type Scenario } from '../scenario.ts';

const run = promisify(execFile);
const PAIRS = 5;

/** Polls `url` until its body contains `marker`. */
async function until(url: string, marker: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const body = await fetch(url, { signal: AbortSignal.timeout(2000) })
      .then((r) => r.text())
      .catch(() => '');
    if (body.includes(marker)) return;
    await sleep(20);
  }
  throw new Error(`${marker} was not served within 120 s`);
}

export const redeployScenario: Scenario = {
  name: 'redeploy',
  description: `Node.js app, one file changed: git push to new content served by the router vs docker build + docker run + first answer, ${PAIRS} pairs`,
  async run(log) {
    const { docker } = await testDocker();
    const b = await berthWithApp('redeploy', { BERTH_DRAIN_TIMEOUT: '0' });
    const plainImage = `${b.app}-plain`;
    const plainContainers: string[] = [];
    try {
      // The first push: Node.js is fetched, the runtime image made (not measured).
      await b.push();
      // server.js answering with the marker in its body.
      const server = await readFile(path.join(b.work, 'server.js'), 'utf8');
      const change = (marker: string) =>
        b.commitFile('server.js', server.replace('node-plain on', `${marker} node-plain on`));
      const runtime = (
        await docker.listImages({ filters: { reference: ['berth/runtime-node'] } })
      ).flatMap((i) => i.RepoTags ?? [])[0];
      if (!runtime) throw new Error('no runtime image after the first push');
      const dockerfile = path.join(b.dir, 'Dockerfile.plain');
      await writeFile(
        dockerfile,
        `FROM ${runtime}\nENV PATH=/app/.heroku/node/bin:$PATH NODE_ENV=production\nWORKDIR /app\nCOPY . .\nCMD ["node", "server.js"]\n`,
      );
      const plain = async (marker: string) => {
        const t0 = performance.now();
        await run('docker', ['build', '-q', '-f', dockerfile, '-t', plainImage, b.work], {
          env: { ...process.env, DOCKER_BUILDKIT: '0' },
        });
        const { stdout } = await run('docker', ['run', '-d', '-e', 'PORT=5000', plainImage]);
        const id = stdout.trim();
        plainContainers.push(id);
        const ip = (await docker.getContainer(id).inspect()).NetworkSettings.Networks.bridge
          ?.IPAddress;
        await until(`http://${ip}:5000/`, marker);
        return performance.now() - t0;
      };
      const berth = async (marker: string) => {
        const t0 = performance.now();
        await b.push();
        await b.untilServed(marker);
        return performance.now() - t0;
      };
      const berthMs: number[] = [];
      const plainMs: number[] = [];
      const ratios: number[] = [];
      for (let i = 1; i <= PAIRS; i++) {
        await change(`berth-${i}`);
        const bm = await berth(`berth-${i}`);
        const pm = await plain(`berth-${i}`);
        berthMs.push(bm);
        plainMs.push(pm);
        ratios.push(bm / pm);
        log(
          `pair ${i}: git push to served ${Math.round(bm)} ms, docker build + run + answer ${Math.round(pm)} ms`,
        );
      }
      return [
        figure('warm redeploy, git push to new content served (Berth)', 'ms', berthMs),
        figure('docker build + docker run + first answer', 'ms', plainMs),
        figure('Berth / plain (per pair)', 'ratio', ratios),
      ];
    } finally {
      for (const id of plainContainers) {
        await docker
          .getContainer(id)
          .remove({ force: true })
          .catch(() => {});
      }
      await docker
        .getImage(plainImage)
        .remove({ force: true })
        .catch(() => {});
      await b.close();
    }
  },
};
