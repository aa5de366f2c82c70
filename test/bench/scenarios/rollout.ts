// Deploys under load: a steady stream of requests through Berth's router to a
// Node.js app (8 keep-alive connections, each sending the next request when
// the last one is answered) while the app is redeployed 10 times by git push,
// changed 5 times by config:set, and scaled web=1→4→1. Every request is
// counted to the phase it started in; the goal is no failed request at all,
// and the p99 during each phase is set against the p99 with nothing changing.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { berthWithApp } from '../../harness/berth-app.ts';
import { startLoad } from '../../harness/load.ts';
import { type Figure, figure, type Scenario } from '../scenario.ts';

const CONNECTIONS = 8;
const REDEPLOYS = 10;
const CONFIG_CHANGES = 5;
const QUIET_MS = 10_000;

export const rolloutScenario: Scenario = {
  name: 'rollout',
  description: `${CONNECTIONS} connections of steady load through the router during ${REDEPLOYS} redeploys, ${CONFIG_CHANGES} config:set, ps:scale web=1→4→1`,
  async run(log) {
    // Replaced instances drain 5 s: ten redeploys in a row would otherwise
    // keep ten releases' containers alive at once on a 2-core machine.
    const b = await berthWithApp('rollout', { BERTH_DRAIN_TIMEOUT: '5s' });
    try {
      await b.push();
      // server.js answering with the marker in its body.
      const server = await readFile(path.join(b.work, 'server.js'), 'utf8');
      const change = (marker: string) =>
        b.commitFile('server.js', server.replace('node-plain on', `${marker} node-plain on`));
      await b.untilServed('node-plain on');
      const load = startLoad({
        port: b.routerPort,
        host: b.host,
        connections: CONNECTIONS,
        maxMs: 10 * 60_000,
        phase: 'no change',
      });
      const timed = async (what: string, step: () => Promise<unknown>) => {
        const t0 = performance.now();
        await step();
        log(`${what}: ${Math.round(performance.now() - t0)} ms`);
      };
      await new Promise((r) => setTimeout(r, QUIET_MS));
      load.phase('redeploys');
      for (let i = 1; i <= REDEPLOYS; i++) {
        await change(`v-${i}`);
        await timed(`redeploy ${i}`, async () => {
          await b.push();
          await b.untilServed(`v-${i}`);
        });
      }
      load.phase('config:set');
      for (let i = 1; i <= CONFIG_CHANGES; i++) {
        await timed(`config:set ${i}`, () => b.command('config:set', b.app, `BENCH_STEP=${i}`));
      }
      load.phase('ps:scale');
      await timed('ps:scale web=4', () => b.command('ps:scale', b.app, 'web=4'));
      await timed('ps:scale web=1', () => b.command('ps:scale', b.app, 'web=1'));
      load.phase('settled');
      await new Promise((r) => setTimeout(r, 2000));
      const results = await load.stop();

      const figures: Figure[] = [];
      const quiet = results.find((r) => r.phase === 'no change');
      for (const r of results) {
        log(
          `${r.phase}: ${r.requests} requests, ${r.non2xx} non-2xx, ${r.errors} connection errors, p50 ${r.p50Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms${r.examples.length ? ` (${r.examples.join('; ')})` : ''}`,
        );
        figures.push(figure(`${r.phase}: requests`, 'count', [r.requests]));
        figures.push(
          figure(`${r.phase}: failed (non-2xx + errors)`, 'count', [r.non2xx + r.errors]),
        );
        figures.push(figure(`${r.phase}: p99`, 'ms', [r.p99Ms]));
        if (quiet && r !== quiet) {
          figures.push(figure(`${r.phase}: p99 / no-change p99`, 'ratio', [r.p99Ms / quiet.p99Ms]));
        }
      }
      return figures;
    } finally {
      await b.close();
    }
  },
};
