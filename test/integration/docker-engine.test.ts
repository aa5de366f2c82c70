// The Docker Engine bootstrap against real dockerd processes: the shared
// local engine (started when it is not running, and left running for the
// other test files), and a private dockerd of this file's own (its own
// socket, pid file, data and exec roots) that is killed and restarted.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureDockerEngine } from '../../infra/bootstrap/docker-engine.ts';
import { silentProgress } from '../../infra/bootstrap/progress.ts';
import {
  CLIENT_MAX_API_VERSION,
  compareApiVersions,
  connectDocker,
  LABELS,
  MANAGED_LABELS,
  negotiateApiVersion,
  pingDocker,
} from '../../services/core/docker.ts';
import { BerthError } from '../../services/core/errors.ts';
import { ensureTestDockerEngine, testDockerTarget } from '../harness/docker.ts';
import { freePort } from '../harness/ports.ts';
import { privateEngine } from '../harness/private-engine.ts';
import { tempDir } from '../harness/tmp.ts';

const isRoot = process.getuid?.() === 0;

describe('the local Docker Engine', () => {
  test('answers after ensureDockerEngine', async () => {
    // Started here when nothing runs it yet; then it stays for the other test files.
    const engine = await ensureTestDockerEngine();
    assert.equal(typeof engine.startedByUs, 'boolean');
    const ping = await pingDocker(testDockerTarget(), 2000);
    assert.ok(ping.ok, ping.ok ? '' : ping.reason);
    // A second call finds it running and starts nothing.
    const again = await ensureTestDockerEngine();
    assert.equal(again.startedByUs, false);
  });

  test('the negotiated API version is the lower of the engine newest and the client newest', async () => {
    const c = await connectDocker(testDockerTarget());
    const expected =
      compareApiVersions(c.engine.apiVersion, CLIENT_MAX_API_VERSION) < 0
        ? c.engine.apiVersion
        : CLIENT_MAX_API_VERSION;
    assert.equal(c.apiVersion, expected);
    assert.equal((c.docker.modem as unknown as { version?: string }).version, `v${expected}`);
    // Requests go out with that version and the engine accepts them.
    const info = await c.docker.info();
    assert.equal(typeof info.ID, 'string');
    const v = await c.docker.version();
    assert.equal(v.ApiVersion, c.engine.apiVersion);
  });

  test('API versions compare by number, not as text', () => {
    assert.ok(compareApiVersions('1.9', '1.10') < 0);
    assert.ok(compareApiVersions('1.52', '1.41') > 0);
    assert.equal(compareApiVersions('1.41', '1.41'), 0);
    assert.equal(negotiateApiVersion('1.41', '1.52'), '1.41');
    assert.equal(negotiateApiVersion('1.53', '1.52'), '1.52');
    // Docker 29 (API 1.52) is spoken at its own version, not an old pinned one.
    assert.equal(negotiateApiVersion('1.52'), '1.52');
  });

  test('label names are defined once, all under berth.', () => {
    assert.deepEqual(LABELS, {
      managed: 'berth.managed',
      app: 'berth.app',
      process: 'berth.process',
      release: 'berth.release',
      instance: 'berth.instance',
      storage: 'berth.storage',
      oneOff: 'berth.one-off',
      appCreated: 'berth.app-created',
      network: 'berth.network',
      stack: 'berth.stack',
      stackRevision: 'berth.stack.revision',
      build: 'berth.build',
      commit: 'berth.commit',
      processes: 'berth.processes',
      buildpacks: 'berth.buildpacks',
      stackId: 'berth.stack-id',
      runtime: 'berth.runtime',
      testRun: 'berth.test-run',
      toolchain: 'berth.toolchain',
      toolchainRevision: 'berth.toolchain.revision',
      datastore: 'berth.datastore',
      datastoreName: 'berth.datastore.name',
      datastoreVersion: 'berth.datastore.version',
      datastoreRevision: 'berth.datastore.revision',
      baseId: 'berth.base-id',
      venvKey: 'berth.venv-key',
      registry: 'berth.registry',
      registryRevision: 'berth.registry.revision',
    });
    const names = Object.values(LABELS);
    assert.equal(new Set(names).size, names.length);
    assert.deepEqual(MANAGED_LABELS, { 'berth.managed': 'true' });
    assert.ok(Object.isFrozen(MANAGED_LABELS));
  });
});

describe('pingDocker and DOCKER_HOST', () => {
  test('a missing socket fails at once with a clear reason', async () => {
    const started = Date.now();
    const r = await pingDocker({ dockerHost: 'unix:///nonexistent/berth/docker.sock' }, 2000);
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.reason, /no socket at \/nonexistent\/berth\/docker\.sock/);
    assert.ok(Date.now() - started < 1000);
  });

  test('an endpoint that accepts but never answers times out within its bound', async (t) => {
    const silent = net.createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    t.after(() => silent.close());
    const { port } = silent.address() as net.AddressInfo;
    const started = Date.now();
    const r = await pingDocker({ dockerHost: `tcp://127.0.0.1:${port}` }, 500);
    const took = Date.now() - started;
    assert.equal(r.ok, false);
    assert.ok(took >= 450 && took < 2000, `took ${took} ms`);
  });

  test('a remote DOCKER_HOST that does not answer is an error, not a start', async () => {
    const port = await freePort();
    await assert.rejects(
      ensureDockerEngine({
        config: { dockerHost: `tcp://127.0.0.1:${port}` },
        progress: silentProgress,
        logDir: await tempDir('berth-dockerd-log'),
      }),
      (e: unknown) => {
        assert.ok(e instanceof BerthError);
        assert.equal(e.code, 'BERTH_E_DOCKER_NO_ANSWER');
        assert.match(e.toLine(), new RegExp(`tcp://127\\.0\\.0\\.1:${port}.*refused`));
        return true;
      },
    );
  });
});

describe('a private dockerd', { skip: !isRoot && 'needs root' }, () => {
  const made = privateEngine;

  test('starts, survives a kill -9 (stale pid files), and stops', async (t) => {
    const { dir, layout, config, engines } = await made(t);
    const opts = { config, progress: silentProgress, logDir: dir, layout };

    const started = Date.now();
    const first = await ensureDockerEngine(opts);
    const startMs = Date.now() - started;
    engines.push(first);
    assert.equal(first.startedByUs, true);
    if (!first.startedByUs) return;
    assert.ok((await pingDocker(config, 2000)).ok);
    assert.equal((await readFile(layout.pidFile, 'utf8')).trim(), String(first.pid));
    // dockerd started a containerd of its own (none runs at /run/containerd).
    const containerdPidFile = path.join(layout.execRoot ?? '', 'containerd', 'containerd.pid');
    const containerd = Number((await readFile(containerdPidFile, 'utf8')).trim());
    assert.ok(alive(containerd), 'managed containerd runs');
    process.stderr.write(`# private dockerd answered in ${startMs} ms\n`);

    // kill -9: the pid files of dockerd and containerd stay behind.
    process.kill(first.pid, 'SIGKILL');
    await until(() => !alive(first.pid), 5000);
    assert.ok((await stat(layout.pidFile)).isFile());
    assert.equal((await pingDocker(config, 500)).ok, false);

    const second = await ensureDockerEngine(opts);
    engines.push(second);
    assert.equal(second.startedByUs, true);
    if (!second.startedByUs) return;
    assert.notEqual(second.pid, first.pid);
    assert.ok((await pingDocker(config, 2000)).ok);

    const containerd2 = Number((await readFile(containerdPidFile, 'utf8')).trim());
    assert.ok(alive(containerd2), 'a managed containerd runs again');

    const stopping = Date.now();
    await second.stop();
    assert.ok(Date.now() - stopping < 30_000);
    assert.equal(alive(second.pid), false);
    assert.equal((await pingDocker(config, 500)).ok, false);
    // dockerd takes its containerd down with it.
    await until(() => !alive(containerd2), 10_000);
  });

  test('a pid file naming an unrelated live process does not block the start', async (t) => {
    const { dir, layout, config, engines } = await made(t);
    await writeFile(layout.pidFile, `${process.pid}\n`);
    const engine = await ensureDockerEngine({
      config,
      progress: silentProgress,
      logDir: dir,
      layout,
    });
    engines.push(engine);
    assert.equal(engine.startedByUs, true);
    assert.ok((await pingDocker(config, 2000)).ok);
  });

  test('a dockerd that exits at once is reported with the last line of its log', async (t) => {
    const { dir, layout, config } = await made(t);
    const bad = { ...layout, extraArgs: ['--no-such-flag-for-berth'] };
    await assert.rejects(
      ensureDockerEngine({ config, progress: silentProgress, logDir: dir, layout: bad }),
      (e: unknown) => {
        assert.ok(e instanceof BerthError);
        assert.equal(e.code, 'BERTH_E_DOCKER_UNAVAILABLE');
        assert.match(
          e.message,
          /dockerd exited \(exit code 1\): unknown flag: --no-such-flag-for-berth/,
        );
        assert.match(e.toLine(), new RegExp(`its log is at ${dir}/dockerd\\.log`));
        return true;
      },
    );
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie waits for its parent to reap it: it is not running.
  let stat = '';
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {}
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

async function until(check: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`not within ${ms} ms`);
    await sleep(50);
  }
}
