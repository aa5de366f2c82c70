// The Docker Engine restarts under a running Berth: a stop and start of
// dockerd (as a package upgrade does), then a kill -9 of it. Each time the
// app must come back by itself and be served through the router again; the
// time from the Engine answering again to the app served is the figure.
// The Engine here is a private dockerd of this test's own (the other test
// files keep using the shared one), given the stack image from the shared one.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ensureDockerEngine } from '../../infra/bootstrap/docker-engine.ts';
import { silentProgress } from '../../infra/bootstrap/progress.ts';
import { BASE_IMAGE } from '../../infra/bootstrap/stack-image.ts';
import { berthWithApp } from '../harness/berth-app.ts';
import { testDockerTarget, testStackImage } from '../harness/docker.ts';
import { copyImages, privateEngine } from '../harness/private-engine.ts';
import { request } from '../harness/router.ts';

const isRoot = process.getuid?.() === 0;

describe('the Docker Engine restarts under a running Berth', {
  skip: !isRoot && 'needs root',
}, () => {
  test('after a restart and after a kill -9 of dockerd, the app comes back and is routed', async (t) => {
    const engine = await privateEngine(t);
    const opts = {
      config: engine.config,
      progress: silentProgress,
      logDir: engine.dir,
      layout: engine.layout,
    };
    const first = await ensureDockerEngine(opts);
    engine.engines.push(first);
    await copyImages(
      [testStackImage(), BASE_IMAGE],
      testDockerTarget().dockerHost,
      engine.config.dockerHost,
    );

    const b = await berthWithApp(
      'engine',
      {
        DOCKER_HOST: engine.config.dockerHost,
        BERTH_STACK_IMAGE: testStackImage(),
        // Subnets away from the shared engine's app networks: a private
        // engine does not see those, and an overlapping bridge takes the
        // app's traffic (the readiness check then waited 60 s for nothing).
        BERTH_APP_NETWORKS: engine.appNetworks,
      },
      'procfile-only',
    );
    // Closed here, not in an after hook: those run in the order registered,
    // and the private engine's (registered first) would be gone by then.
    try {
      await b.commitFile('site/index.html', 'before the restart\n');
      await b.push();
      await b.untilServed('before the restart');

      /** From the Engine answering again to the router serving the app. */
      const servedAgain = async (after: string) => {
        const t0 = performance.now();
        try {
          await b.untilServed('before the restart', 60_000);
        } catch (e) {
          const report = await b.command('ps:report', b.app).catch((err: Error) => err.message);
          const answer = await request(b.routerPort, b.host).catch((err: Error) => err.message);
          // Berth's own log says what the reconciler tried (it failed to bring
          // the app back 3 times in about 10 runs on a loaded machine, cause not found yet).
          const log = b.platform.stderr;
          throw new Error(
            `${(e as Error).message} after ${after}; ps:report:\n${report}\nrouter: ${JSON.stringify(answer)}\nBerth's log:\n${log.slice(-40).join('\n')}`,
          );
        }
        return Math.round(performance.now() - t0);
      };

      // A stop and start, as a package upgrade or `systemctl restart docker` does.
      if (!first.startedByUs) throw new Error('the private engine was not started by the test');
      const stopping = performance.now();
      await first.stop();
      const stopMs = Math.round(performance.now() - stopping);
      // While the Engine is down the app cannot answer; what the router says
      // then (503 once Berth heard its instance died) is reported, not asserted.
      const down = (await request(b.routerPort, b.host).catch(() => undefined))?.status;
      const second = await ensureDockerEngine(opts);
      engine.engines.push(second);
      const afterRestartMs = await servedAgain('a restart');

      // kill -9 of dockerd: its containers may outlive it in their shims.
      if (!second.startedByUs) throw new Error('the private engine was not started by the test');
      process.kill(second.pid, 'SIGKILL');
      const third = await ensureDockerEngine(opts);
      engine.engines.push(third);
      const afterKillMs = await servedAgain('a kill -9');

      // Still one web instance of the current release, nothing orphaned.
      const report = JSON.parse(await b.command('ps:report', b.app, '--format', 'json')) as {
        type: string;
        instance: number;
        state: string;
      }[];
      // One running web instance of the current release. A dead container the
      // Engine will not remove yet ("failed to remove root filesystem": its
      // overlay mount outlived the stopped dockerd) may stay beside it; Berth
      // retries its removal on every pass, and it takes no traffic.
      const instances = report.filter((i) => i.instance > 0);
      assert.deepEqual(
        instances.filter((i) => i.state !== 'exited').map((i) => [i.type, i.instance, i.state]),
        [['web', 1, 'running']],
      );
      const leftovers = instances.filter((i) => i.state === 'exited').length;
      t.diagnostic(
        `dockerd stopped in ${stopMs} ms (the router answered ${down} meanwhile); app served again ${afterRestartMs} ms after dockerd answered again; after a kill -9 of dockerd: ${afterKillMs} ms; dead containers the Engine would not remove yet: ${leftovers}`,
      );
    } finally {
      await b.close();
    }
  });
});
