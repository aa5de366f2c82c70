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
import { execFile, spawn } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
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
  /**
   * A BERTH_APP_NETWORKS for a Berth on this engine: a random /22 of
   * 10.211.0.0-10.254.255.255, away from the default 10.210.0.0/16 that
   * Berths on the shared engine use. The engines do not know each other's
   * networks, and two host bridges with one subnet take each other's traffic:
   * an app's instance on one engine was not reachable from the host.
   */
  appNetworks: string;
}

/** Where the engine's removal is registered: a test's context, or a benchmark's list. */
export interface Cleanups {
  after(fn: () => Promise<void>): void;
}

export async function privateEngine(t: Cleanups): Promise<PrivateEngine> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-dockerd-'));
  const bridge = `berth${randomBytes(4).toString('hex')}`;
  const bridgesBefore = new Set(await bridgeDevices());
  const engines: DockerEngine[] = [];
  t.after(async () => {
    // Only an engine still running as this layout's dockerd: one the test
    // killed has left its pid free, and on a busy machine another process
    // soon has it (pid_max is 32768 here), which a stop would signal.
    for (const e of engines) if (e.startedByUs && (await isOurs(e.pid, dir))) await e.stop();
    const mounts = (await readFile('/proc/mounts', 'utf8'))
      .split('\n')
      .map((l) => l.split(' ')[1] ?? '')
      .filter((m) => m.startsWith(`${dir}/`))
      .reverse();
    for (const m of mounts) await runOk('umount', ['--lazy', m]);
    await rm(dir, { recursive: true, force: true });
    await runOk('ip', ['link', 'del', bridge]);
    // The shared engine's own bridges are named for its networks: never
    // those. The bridges are listed first: a network the shared engine makes
    // meanwhile (other test files run) is then either not in that list or
    // among its networks, never deleted under it (a deploy met "Failed to set
    // link up for br-...: no such device").
    const devices = await bridgeDevices();
    const shared = new Set(
      (await execFileP('docker', ['network', 'ls', '-q']).catch(() => ({ stdout: '' }))).stdout
        .split('\n')
        .map((id) => `br-${id.trim().slice(0, 12)}`),
    );
    for (const device of devices) {
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
  return {
    dir,
    layout,
    engines,
    config: { dockerHost: `unix://${layout.socketPath}` },
    appNetworks: `10.${randomInt(211, 255)}.${4 * randomInt(0, 64)}.0/22`,
  };
}

/** The host's bridges of Docker networks (br-<network id>). */
async function bridgeDevices(): Promise<string[]> {
  const { stdout } = await execFileP('ip', ['-o', 'link', 'show', 'type', 'bridge']);
  return stdout
    .split('\n')
    .map((l) => (l.split(': ')[1] ?? '').replace(/@.*$/, ''))
    .filter((d) => d.startsWith('br-'));
}

/** `docker save` from one engine piped into `docker load` on another (no shell). */
export function copyImages(images: string[], from: string | undefined, to: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const envOf = (host: string | undefined) => {
      const env = { ...process.env };
      if (host) env.DOCKER_HOST = host;
      else delete env.DOCKER_HOST;
      return env;
    };
    const save = spawn('docker', ['save', ...images], {
      env: envOf(from),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const load = spawn('docker', ['load', '-q'], {
      env: envOf(to),
      stdio: ['pipe', 'ignore', 'inherit'],
    });
    save.stdout.pipe(load.stdin);
    let saved: number | null = null;
    save.on('close', (code) => {
      saved = code;
    });
    load.on('close', (code) =>
      code === 0 && saved === 0
        ? resolve()
        : reject(new Error(`docker save | docker load: ${saved} / ${code}`)),
    );
  });
}

/** True while `pid` is a dockerd whose command line names `dir`. */
async function isOurs(pid: number, dir: string): Promise<boolean> {
  const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
  return path.basename(argv[0] ?? '') === 'dockerd' && argv.some((a) => a.includes(`${dir}/`));
}
