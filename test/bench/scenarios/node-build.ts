// A Node.js app with one dependency (and one devDependency), built by the
// node buildpack through Berth's builder, next to a plain `docker build` of
// an equivalent Dockerfile: the same Node.js runtime image as its base,
// `npm ci` from the same registry, the build script, dev dependencies pruned.
// Cold: the app's first build (the runtime is in the machine's cache; its
// image is made). Warm: one source file changed, the dependencies not; pair
// by pair in one run. The npm registry is the test's own (test/harness),
// served on the Docker bridge, since build containers have no internet.
import { cp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { bridgeGateway, FIXTURE_APPS_DIR } from '../../harness/buildpacks.ts';
import { TEST_RUNTIMES } from '../../harness/node-runtime.ts';
import {
  NODE_DEPS_PACKAGES,
  nodeDepsLockfile,
  startTestRegistry,
} from '../../harness/npm-registry.ts';
import { benchBuilder, plainDockerBuild } from '../bench-builder.ts';
import { figure, type Scenario } from '../scenario.ts';

const PAIRS = 5;

const plainDockerfile = (base: string, registry: string) =>
  [
    `FROM ${base}`,
    'ENV PATH=/app/.heroku/node/bin:$PATH NODE_ENV=production',
    'WORKDIR /app',
    'COPY package.json package-lock.json ./',
    `RUN npm ci --include=dev --registry=${registry}`,
    'COPY . .',
    'RUN npm run build && npm prune --omit=dev',
    'CMD ["node", "server.js"]',
    '',
  ].join('\n');

export const nodeBuildScenario: Scenario = {
  name: 'node-build',
  description: `Node.js app with a dependency: Berth's node buildpack vs plain docker build of an equivalent Dockerfile, ${PAIRS} warm pairs after one cold pair`,
  async run(log) {
    const b = await benchBuilder({ runtimes: TEST_RUNTIMES });
    const registry = await startTestRegistry(await bridgeGateway(b.docker), [
      ...NODE_DEPS_PACKAGES,
    ]);
    try {
      await b.store.config.set(b.app, { NPM_CONFIG_REGISTRY: registry.url });
      await cp(path.join(FIXTURE_APPS_DIR, 'node-deps'), b.work, { recursive: true });
      const server = await readFile(path.join(b.work, 'server.js'), 'utf8');
      const files = (n: number) => ({
        'package-lock.json': nodeDepsLockfile('npm', registry),
        'server.js': `${server}// change ${n}\n`,
      });
      const coldBerth = [await b.build(await b.commit(files(0)))];

      // The equivalent Dockerfile, on the runtime image Berth's build used.
      const runtimes = await b.docker.listImages({
        filters: { reference: ['berth/runtime-node'] },
      });
      const base = runtimes.flatMap((i) => i.RepoTags ?? [])[0];
      if (!base) throw new Error('the Berth build made no runtime image');
      const dockerfile = path.join(b.work, '..', 'Dockerfile.plain');
      await writeFile(dockerfile, plainDockerfile(base, registry.url));
      const plain = () =>
        plainDockerBuild(b.work, `${b.app}-plain:latest`, b.labelArgs, ['-f', dockerfile]);
      const coldPlain = [await plain()];

      const warmBerth: number[] = [];
      const warmPlain: number[] = [];
      const ratios: number[] = [];
      for (let i = 1; i <= PAIRS; i++) {
        const berthMs = await b.build(await b.commit(files(i)));
        const plainMs = await plain();
        warmBerth.push(berthMs);
        warmPlain.push(plainMs);
        ratios.push(berthMs / plainMs);
        log(
          `pair ${i}: Berth ${Math.round(berthMs)} ms, plain docker build ${Math.round(plainMs)} ms`,
        );
      }
      return [
        figure(`cold build, Berth (${base})`, 'ms', coldBerth),
        figure('cold build, plain docker build (its base made by Berth)', 'ms', coldPlain),
        figure('warm build, Berth', 'ms', warmBerth),
        figure('warm build, plain docker build', 'ms', warmPlain),
        figure('warm Berth / plain (per pair)', 'ratio', ratios),
      ];
    } finally {
      await registry.close();
      await b.close();
    }
  },
};
