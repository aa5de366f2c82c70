// Dockerfile build time: Berth's builder (enqueue → build → end entry) next
// to a plain `docker build` of the same tree, pair by pair in one run, cold
// (first build of the app) and warm (one source file changed, dependencies
// not). The setup is ../bench-builder.ts.
import { benchBuilder, plainDockerBuild } from '../bench-builder.ts';
import { figure, type Scenario } from '../scenario.ts';

const PAIRS = 5;

// A node-style app: dependencies first (cached), then the source.
const DOCKERFILE = [
  'FROM debian:bookworm-slim',
  'WORKDIR /app',
  'COPY package.json /app/',
  'RUN echo "installing dependencies" && sleep 1 && echo done > /app/deps',
  'COPY . /app/',
  'CMD ["cat", "/app/index.js"]',
  '',
].join('\n');

export const buildScenario: Scenario = {
  name: 'build',
  description: `Dockerfile app: Berth's builder vs plain docker build, ${PAIRS} warm pairs after one cold pair`,
  async run(log) {
    const b = await benchBuilder();
    try {
      const berth = async (n: number) =>
        b.build(
          await b.commit({
            Dockerfile: DOCKERFILE,
            'package.json': '{"name":"bench","version":"1.0.0"}\n',
            'index.js': `console.log(${n})\n`,
          }),
        );
      // The same tree, built as a user would on the server.
      const plain = () => plainDockerBuild(b.work, `${b.app}-plain:latest`, b.labelArgs);
      const coldBerth = [await berth(0)];
      const coldPlain = [await plain()];
      const warmBerth: number[] = [];
      const warmPlain: number[] = [];
      const ratios: number[] = [];
      for (let i = 1; i <= PAIRS; i++) {
        const berthMs = await berth(i);
        const plainMs = await plain();
        warmBerth.push(berthMs);
        warmPlain.push(plainMs);
        ratios.push(berthMs / plainMs);
        log(
          `pair ${i}: Berth ${Math.round(berthMs)} ms, plain docker build ${Math.round(plainMs)} ms`,
        );
      }
      return [
        figure('cold build, Berth', 'ms', coldBerth),
        figure('cold build, plain docker build (after Berth: base layers cached)', 'ms', coldPlain),
        figure('warm build, Berth', 'ms', warmBerth),
        figure('warm build, plain docker build', 'ms', warmPlain),
        figure('warm Berth / plain (per pair)', 'ratio', ratios),
      ];
    } finally {
      await b.close();
    }
  },
};
