// A private dockerd for tests that stop, kill or restart the Engine: its own
// socket, pid file, data and exec roots and default bridge, and no iptables
// rules, so it leaves the shared engine (and the tests using it) alone. (Not
// --bridge=none: that makes dockerd delete docker0, the shared engine's
// bridge.) Its own networks (Berth's `berth` network made in it) take their
// subnets from a pool of its own in the benchmarking range, so they never
// use up the address pools the shared engine draws from. Removed when the
// test ends, with the bind mount dockerd puts on its data root (left behind
// when dockerd is killed), the bridge, and the bridges of its networks,
// which dockerd leaves on the host when it stops (each kept a route and,
// run after run, they used up the shared engine's pools).
import { execFile } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import type { DockerEngine, LocalEngineLayout } from '../../infra/bootstrap/docker-engine.ts';
import { runOk } from '../../infra/bootstrap/run.ts';

const execFileP = promisify(execFile);

export interface PrivateEngine {
  dir: string;
  layout: LocalEngineLayout;
  /** Every engine started on this layout; stopped at the end. */
  engines: DockerEngine[];
  config: { dockerHost: string };
}

export async function privateEngine(t: TestContext): Promise<PrivateEngine> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-dockerd-'));
  const bridge = `berth${randomBytes(4).toString('hex')}`;
  const pool = `198.19.${randomInt(0, 256)}`;
  const engines: DockerEngine[] = [];
  t.after(async () => {
    for (const e of engines) if (e.startedByUs) await e.stop();
    const mounts = (await readFile('/proc/mounts', 'utf8'))
      .split('\n')
      .map((l) => l.split(' ')[1] ?? '')
      .filter((m) => m.startsWith(`${dir}/`))
      .reverse();
    for (const m of mounts) await runOk('umount', ['--lazy', m]);
    await rm(dir, { recursive: true, force: true });
    await runOk('ip', ['link', 'del', bridge]);
    for (const device of await devicesWithin(pool)) await runOk('ip', ['link', 'del', device]);
  });
  await runOk('ip', ['link', 'add', bridge, 'type', 'bridge']);
  // An address from the benchmarking range (198.18.0.0/15), which no engine
  // hands out; a random /24 of it, so two private engines never meet.
  await runOk('ip', ['addr', 'add', `198.18.${randomInt(0, 256)}.1/24`, 'dev', bridge]);
  const layout: LocalEngineLayout = {
    socketPath: path.join(dir, 'docker.sock'),
    pidFile: path.join(dir, 'docker.pid'),
    dataRoot: path.join(dir, 'data'),
    execRoot: path.join(dir, 'exec'),
    extraArgs: [
      `--bridge=${bridge}`,
      '--iptables=false',
      '--ip-masq=false',
      `--default-address-pool=base=${pool}.0/24,size=26`,
    ],
  };
  return { dir, layout, engines, config: { dockerHost: `unix://${layout.socketPath}` } };
}

/** The network devices with an IPv4 address in `prefix`.0/24 (the private engine's networks). */
async function devicesWithin(prefix: string): Promise<string[]> {
  const { stdout } = await execFileP('ip', ['-o', '-4', 'addr', 'show']);
  return [
    ...new Set(
      stdout
        .split('\n')
        .filter((l) => l.includes(` inet ${prefix}.`))
        .map((l) => (l.split(/\s+/)[1] ?? '').replace(/@.*$/, ''))
        .filter((d) => d !== ''),
    ),
  ];
}
