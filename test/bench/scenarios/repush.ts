// The warm re-push of an app whose dependencies did not change: one source
// file changed, pushed again, built by Berth's builder, next to a plain
// `docker build` of the same app with the Dockerfile a user would write
// (its dependency layer cached by the Engine), pair by pair in one run.
// What it shows: the language environment is reused from the build cache,
// not rebuilt on every push (issue 18).
//
// Python: the python-django fixture (Django, gunicorn, WhiteNoise from a
// simple index this scenario serves on the Docker bridge, made of Debian's
// packages: test/harness/pypi-index.ts), collectstatic included on both sides.
// Go: the go-web fixture (net/http, no modules to download) on the Go
// toolchain image the builder makes (berth-toolchain/go:1.22), next to the
// multi-stage Dockerfile a user would write: build on the same toolchain
// image, run on the stack. The Engine here has the classic builder (no
// BuildKit cache mounts), so the plain build's Go build cache is its layer
// cache: a changed source file compiles the standard library again there,
// while Berth keeps GOCACHE in the app's cache volume.
import { cp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DEFAULTS } from '../../../services/core/config.ts';
import { TOOLCHAIN_REPO } from '../../../services/platform/build/toolchains.ts';
import { bridgeGateway, FIXTURE_APPS_DIR } from '../../harness/buildpacks.ts';
import { debianWheels, startPypiIndex } from '../../harness/pypi-index.ts';
import { type BenchBuilder, benchBuilder, plainDockerBuild } from '../bench-builder.ts';
import { type Figure, figure, type Scenario } from '../scenario.ts';

const PAIRS = 5;

/** One language's app for the scenario. */
interface RepushApp {
  /** A word for the figures ("Python"). */
  language: string;
  /** Prepares the app (config, files, servers); what the pairs need, and how to stop it. */
  setup(b: BenchBuilder, log: (line: string) => void): Promise<PreparedApp>;
}

interface PreparedApp {
  /** The files of the n-th push (n = 0: the first). */
  files(n: number): Record<string, string>;
  /** The Dockerfile a user would write for the same app. */
  dockerfile: string;
  close(): Promise<void>;
}

const python: RepushApp = {
  language: 'Python',
  async setup(b, log) {
    const stack = DEFAULTS.BERTH_STACK_IMAGE;
    const labels = Object.fromEntries(
      b.labelArgs.filter((_, i) => i % 2 === 1).map((l) => l.split('=') as [string, string]),
    );
    log('making the wheels (Django and friends) from Debian packages, once per machine');
    const index = await startPypiIndex(
      await bridgeGateway(b.docker),
      await debianWheels(b.docker, stack, labels),
    );
    await b.store.config.set(b.app, { PIP_INDEX_URL: index.url, PIP_TRUSTED_HOST: index.host });
    await cp(path.join(FIXTURE_APPS_DIR, 'python-django'), b.work, { recursive: true });
    const views = await readFile(path.join(b.work, 'hello', 'views.py'), 'utf8');
    return {
      files: (n) => ({ 'hello/views.py': `${views}\n# change ${n}\n` }),
      dockerfile: [
        `FROM ${stack}`,
        'WORKDIR /app',
        'COPY requirements.txt ./',
        `RUN python3 -m venv /app/.venv && /app/.venv/bin/pip install --index-url ${index.url} --trusted-host ${index.host} -r requirements.txt`,
        'COPY . .',
        'RUN /app/.venv/bin/python manage.py collectstatic --noinput',
        'CMD ["/app/.venv/bin/gunicorn", "gettingstarted.wsgi"]',
        '',
      ].join('\n'),
      close: () => index.close(),
    };
  },
};

const go: RepushApp = {
  language: 'Go',
  async setup(b) {
    await cp(path.join(FIXTURE_APPS_DIR, 'go-web'), b.work, { recursive: true });
    const main = await readFile(path.join(b.work, 'main.go'), 'utf8');
    return {
      files: (n) => ({ 'main.go': `${main}\n// change ${n}\n` }),
      dockerfile: [
        `FROM ${TOOLCHAIN_REPO}/go:1.22 AS build`,
        'WORKDIR /src',
        'COPY go.mod ./',
        'RUN PATH=$(echo /usr/lib/go-*/bin):$PATH go mod download',
        'COPY . .',
        'RUN PATH=$(echo /usr/lib/go-*/bin):$PATH CGO_ENABLED=0 go build -trimpath -o /out/ ./...',
        `FROM ${DEFAULTS.BERTH_STACK_IMAGE}`,
        'COPY --from=build /out/ /app/bin/',
        'CMD ["/app/bin/go-web"]',
        '',
      ].join('\n'),
      close: async () => {},
    };
  },
};

/** The apps measured, each in a builder of its own. */
const APPS: readonly RepushApp[] = [python, go];

async function measure(app: RepushApp, log: (line: string) => void): Promise<Figure[]> {
  const b = await benchBuilder();
  const prepared = await app.setup(b, log);
  try {
    const dockerfile = path.join(b.work, '..', 'Dockerfile.plain');
    await writeFile(dockerfile, prepared.dockerfile);
    const plain = () =>
      plainDockerBuild(b.work, `${b.app}-plain:latest`, b.labelArgs, ['-f', dockerfile]);
    // The first push of each: cold, not measured in the pairs.
    const coldBerth = await b.build(await b.commit(prepared.files(0)));
    const coldPlain = await plain();
    log(
      `${app.language} first push: Berth ${Math.round(coldBerth)} ms, plain ${Math.round(coldPlain)} ms`,
    );
    const berth: number[] = [];
    const plainMs: number[] = [];
    const ratios: number[] = [];
    for (let i = 1; i <= PAIRS; i++) {
      const ms = await b.build(await b.commit(prepared.files(i)));
      const p = await plain();
      berth.push(ms);
      plainMs.push(p);
      ratios.push(ms / p);
      log(
        `${app.language} pair ${i}: Berth ${Math.round(ms)} ms, plain docker build ${Math.round(p)} ms`,
      );
    }
    return [
      figure(`${app.language} first push, Berth`, 'ms', [coldBerth]),
      figure(`${app.language} first push, plain docker build`, 'ms', [coldPlain]),
      figure(`${app.language} warm re-push, Berth`, 'ms', berth),
      figure(`${app.language} warm re-push, plain docker build`, 'ms', plainMs),
      figure(`${app.language} warm Berth / plain (per pair)`, 'ratio', ratios),
    ];
  } finally {
    await prepared.close();
    await b.close();
  }
}

export const repushScenario: Scenario = {
  name: 'repush',
  description: `warm re-push (one source file changed, dependencies not) of ${APPS.map((a) => a.language).join(' and ')} apps: Berth's buildpack vs a plain docker build of the same app, ${PAIRS} pairs`,
  async run(log) {
    const figures: Figure[] = [];
    for (const app of APPS) figures.push(...(await measure(app, log)));
    return figures;
  },
};
