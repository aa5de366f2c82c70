// A private dockerd for tests that stop, kill or restart the Engine: its own
// socket, pid file, data and exec roots and default bridge, and no iptables
// rules, so it leaves the shared engine (and the tests using it) alone. (Not
// --bridge=none: that makes dockerd delete docker0, the shared engine's
// bridge.) Removed when the test ends, with the bind mount dockerd puts on
// its data root (left behind when dockerd is killed), the bridge, and the
// bridges of the networks made in it (Berth's `berth` network), which
// dockerd leaves on the host when it stops: each kept a subnet's route and,
// run after run, they used up the address pools the shared engine draws from.
// (Not --default-address-pool for them: with it, docker0 was found deleted.)
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
  const bridgesBefore = new Set(await bridgeDevices());
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
    // The shared engine's own bridges are named for its networks: never those.
    const shared = new Set(
      (await execFileP('docker', ['network', 'ls', '-q']).catch(() => ({ stdout: '' }))).stdout
        .split('\n')
        .map((id) => `br-${id.trim().slice(0, 12)}`),
    );
    for (const device of await bridgeDevices()) {
      if (!bridgesBefore.has(device) && !shared.has(device))
        await runOk('ip', ['link', 'del', device]);
    }
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
    extraArgs: [`--bridge=${bridge}`, '--iptables=false', '--ip-masq=false'],
  };
  return { dir, layout, engines, config: { dockerHost: `unix://${layout.socketPath}` } };
}

/** The host's bridges of Docker networks (br-<network id>). */
async function bridgeDevices(): Promise<string[]> {
  const { stdout } = await execFileP('ip', ['-o', 'link', 'show', 'type', 'bridge']);
  return stdout
    .split('\n')
    .map((l) => (l.split(': ')[1] ?? '').replace(/@.*$/, ''))
    .filter((d) => d.startsWith('br-'));
}
