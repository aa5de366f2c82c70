// Back after a power cut, with 10 apps (issue 17, item 3: under 30 s): every
// Berth process, its Redis, a private dockerd and all its containers killed
// with SIGKILL at once, the engine started again (as init does at boot), then
// `npm start` once; the figure is from `npm start` to every app served its
// release through the router. One app runs two web instances, one has a
// custom domain with a certificate. Several cuts of the same fleet in a row.
// The correctness of what comes back is test/e2e/power-loss.test.ts's.
import { makeCert } from '../../harness/certs.ts';
import { type FleetApp, powerLossFleet } from '../../harness/power-loss.ts';
import { figure, type Scenario } from '../scenario.ts';

const APPS = 10;
const CUTS = 3;

export const powerLossScenario: Scenario = {
  name: 'power-loss',
  description: `${APPS} apps, every Berth process, Redis, dockerd and containers killed at once: npm start to all apps served, ${CUTS} cuts`,
  async run(log) {
    const cleanups: (() => Promise<void>)[] = [];
    const fleet = await powerLossFleet(
      { after: (fn) => cleanups.push(fn) },
      { label: 'bpower', apps: APPS, log },
    );
    const ready: number[] = [];
    const served: number[] = [];
    const engine: number[] = [];
    try {
      const body = (a: FleetApp) => `${a.name} v1\n`;
      // Two pushes at a time: builds run one by one anyway.
      for (let i = 0; i < fleet.apps.length; i += 2) {
        await Promise.all(fleet.apps.slice(i, i + 2).map((a) => fleet.push(a, body(a))));
      }
      const [scaled, secured] = fleet.apps as [FleetApp, FleetApp];
      await fleet.command('ps:scale', scaled.name, 'web=2');
      const domain = `www.${secured.name}.test`;
      await fleet.command('domains:add', secured.name, domain);
      const cert = await makeCert([domain]);
      await fleet.commandWithInput(`${cert.key}${cert.cert}`, 'certs:add', secured.name);
      log(`${APPS} apps deployed`);
      for (let n = 1; n <= CUTS; n++) {
        const cut = await fleet.cutPower();
        const { engineMs, startedAt } = await fleet.powerOn();
        ready.push(Math.round(performance.now() - startedAt));
        engine.push(engineMs);
        const left = new Set(fleet.apps);
        const deadline = performance.now() + 180_000;
        while (left.size > 0) {
          for (const a of [...left]) if ((await fleet.served(a.host)) === body(a)) left.delete(a);
          if (left.size > 0 && performance.now() > deadline) {
            throw new Error(`not served 180 s after npm start: ${[...left].map((a) => a.name)}`);
          }
        }
        served.push(Math.round(performance.now() - startedAt));
        log(
          `cut ${n}: ${cut.killed} processes killed; dockerd ${engineMs} ms, npm start to ready ${ready.at(-1)} ms, to all ${APPS} apps served ${served.at(-1)} ms`,
        );
      }
    } finally {
      await fleet.close();
      for (const c of cleanups) await c().catch(() => {});
    }
    return [
      figure(`npm start to all ${APPS} apps served`, 'ms', served),
      figure('npm start to Berth ready', 'ms', ready),
      figure('dockerd start to answering', 'ms', engine),
    ];
  },
};
