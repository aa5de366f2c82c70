// `npm run bench [name...]`: runs the benchmark scenarios (all, or those
// named), prints a table of medians and writes every sample as JSON to
// .bench/<time>.json and .bench/latest.json.
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorLine } from '../../services/core/errors.ts';
import type { Figure, Scenario } from './scenario.ts';
import { appsPageScenario } from './scenarios/apps-page.ts';
import { backupScenario } from './scenarios/backup.ts';
import { buildScenario } from './scenarios/build.ts';
import { footprintScenario } from './scenarios/footprint.ts';
import { nodeBuildScenario } from './scenarios/node-build.ts';
import { noisyNeighbourScenario } from './scenarios/noisy-neighbour.ts';
import { powerLossScenario } from './scenarios/power-loss.ts';
import { proxyScenario } from './scenarios/proxy.ts';
import { redeployScenario } from './scenarios/redeploy.ts';
import { repushScenario } from './scenarios/repush.ts';
import { rolloutScenario } from './scenarios/rollout.ts';
import { servicesScenario } from './scenarios/services.ts';
import { sshCrowdScenario } from './scenarios/ssh-crowd.ts';
import { sshVersionScenario } from './scenarios/ssh-version.ts';
import { startScenario } from './scenarios/start.ts';
import { swarmScenario } from './scenarios/swarm.ts';
import { webScenario } from './scenarios/web.ts';

const SCENARIOS: readonly Scenario[] = [
  startScenario,
  footprintScenario,
  sshVersionScenario,
  sshCrowdScenario,
  buildScenario,
  nodeBuildScenario,
  redeployScenario,
  rolloutScenario,
  proxyScenario,
  appsPageScenario,
  noisyNeighbourScenario,
  backupScenario,
  powerLossScenario,
  repushScenario,
  webScenario,
  servicesScenario,
  swarmScenario,
];
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

async function main(names: string[]): Promise<number> {
  const unknown = names.filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length > 0) {
    process.stderr.write(
      `bench: no scenario ${unknown.join(', ')}; there are: ${SCENARIOS.map((s) => s.name).join(', ')}\n`,
    );
    return 2;
  }
  const chosen = names.length > 0 ? SCENARIOS.filter((s) => names.includes(s.name)) : SCENARIOS;
  const results: { scenario: string; figures: Figure[] }[] = [];
  for (const s of chosen) {
    process.stderr.write(`-----> ${s.name}: ${s.description}\n`);
    const figures = await s.run((line) => process.stderr.write(`       ${line}\n`));
    results.push({ scenario: s.name, figures });
  }
  const rows = results.flatMap((r) =>
    r.figures.map((f) => [
      r.scenario,
      f.name,
      `${round(f.median)} ${f.unit}`,
      f.samples.map(round).join(' '),
    ]),
  );
  printTable(['scenario', 'figure', 'median', 'samples'], rows);
  const out = path.join(ROOT, '.bench');
  await mkdir(out, { recursive: true });
  const report = {
    at: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
    },
    results,
  };
  const file = path.join(out, `${report.at.replace(/[:.]/g, '-')}.json`);
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(path.join(out, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`\nfigures written to ${path.relative(ROOT, file)}\n`);
  return 0;
}

const round = (n: number) => (Math.abs(n) >= 100 ? Math.round(n) : Math.round(n * 100) / 100);

function printTable(head: string[], rows: string[][]) {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  process.stdout.write(`${line(head)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n`);
  for (const r of rows) process.stdout.write(`${line(r)}\n`);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`bench: ${errorLine(e)}\n`);
    process.exit(1);
  },
);
