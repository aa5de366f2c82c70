// A power cut for Berth, and the machine coming back: several apps deployed
// on a Berth of its own (its data directory, the Redis it starts itself, and
// a private Docker Engine), then every process of that Berth, its Redis, its
// dockerd with containerd, and every container of that engine killed with
// SIGKILL in one tight loop, as losing power does; then the engine started
// again (the machine's init does that at boot) and `npm start` once.
// Used by test/e2e/power-loss.test.ts and `npm run bench power-loss`.
//
// Berth's processes are found by what is known from outside, not by their
// names: the session `npm start` runs in (the harness starts it detached),
// the sessions of the services in <data>/run/services.json (the router runs
// in its own, with the router processes it forks), every process whose
// environment names this data directory (the Redis Berth started, git and
// hooks under the ssh service), and the pid in Redis' pid file. The engine's
// processes are those whose command line names the private engine's folder
// (dockerd, its containerd, the shims), and everything below them (the
// containers).
import { execFile, spawn } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ensureDockerEngine } from '../../infra/bootstrap/docker-engine.ts';
import { silentProgress } from '../../infra/bootstrap/progress.ts';
import { BASE_IMAGE } from '../../infra/bootstrap/stack-image.ts';
import { readStateFile } from '../../infra/supervisor.ts';
import { FIXTURE_APPS_DIR } from './buildpacks.ts';
import { testDockerTarget, testStackImage } from './docker.ts';
import { type Platform, platformKnownHosts, startPlatform } from './platform.ts';
import { type Cleanups, copyImages, type PrivateEngine, privateEngine } from './private-engine.ts';
import { request } from './router.ts';
import { opensshArgs, opensshCommand } from './ssh.ts';
import { makeKeyPair } from './ssh-keys.ts';

const run = promisify(execFile);

/**
 * What every app serves: its name (index.html, from its commit) and, at
 * /mark.txt, the MARK of the config its instance runs with, written when the
 * instance starts, so the body tells which release serves. START_DELAY (in
 * the config) holds the start back: a rollout the cut is sure to catch.
 */
const PROCFILE =
  // biome-ignore lint/suspicious/noTemplateCurlyInString: ${...} here is shell text, not JavaScript
  'web: sh -c \'sleep "${START_DELAY:-0}"; printf "%s\\n" "$MARK" > site/mark.txt && exec python3 -m http.server "$PORT" --directory site\'\n';

/** Files of a checkout to write (relative path: content) or remove (null). */
export type Files = Record<string, string | null>;

/**
 * A Dockerfile whose build takes `seconds` before it serves as the Procfile
 * does: a build the cut is sure to catch running.
 */
export const slowDockerfile = (seconds: number) =>
  [
    'FROM debian:bookworm-slim',
    `RUN sleep ${seconds}`,
    'WORKDIR /app',
    'COPY site site',
    'CMD ["sh", "-c", "printf \'%s\\n\' "$MARK" > site/mark.txt && exec python3 -m http.server "$PORT" --directory site"]',
    '',
  ].join('\n');

export interface FleetApp {
  name: string;
  host: string;
  /** The app's checkout (its remote `deploy` is Berth). */
  work: string;
}

export interface Fleet {
  dir: string;
  dataDir: string;
  engine: PrivateEngine;
  platform: Platform;
  apps: FleetApp[];
  routerPort: number;
  httpsPort: number;
  /** Progress lines (stderr unless the caller gave its own). */
  log(line: string): void;
  /** A Berth command over SSH as the admin; rejects with its stderr when it fails. */
  command(...args: string[]): Promise<string>;
  /** The same with `input` on its stdin. */
  commandWithInput(input: string, ...args: string[]): Promise<string>;
  /**
   * `git push deploy main` of the app's checkout after committing
   * `site/index.html` with `body` and `files` (null: removed).
   */
  push(app: FleetApp, body: string, files?: Files): Promise<void>;
  /** The same, left running: resolves (never rejects) with git's exit code. */
  pushInBackground(app: FleetApp, body: string, files?: Files): Promise<number | null>;
  /** The body the router gives for `path` of `host` (undefined when it does not answer 200). */
  served(host: string, path?: string): Promise<string | undefined>;
  /** Every SIGKILL at once; resolves with how many processes were killed, once all are gone. */
  cutPower(): Promise<{ killed: number; berth: number; engine: number }>;
  /**
   * The machine comes back: the Engine starts (as init starts it at boot),
   * then `npm start` once. Resolves when Berth says it is ready.
   */
  powerOn(): Promise<{ engineMs: number; startedAt: number }>;
  /** Ctrl-C to Berth, then everything this fleet started goes (the engine with its after hook). */
  close(): Promise<void>;
}

interface ProcessInfo {
  pid: number;
  ppid: number;
  session: number;
  zombie: boolean;
}

async function processes(): Promise<ProcessInfo[]> {
  const out: ProcessInfo[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // "pid (comm) S ppid pgrp session ...": the fields follow the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields.length < 4) continue;
    out.push({
      pid: Number(entry),
      ppid: Number(fields[1]),
      session: Number(fields[3]),
      zombie: fields[0] === 'Z',
    });
  }
  return out;
}

const sessionOf = async (pid: number) => (await processes()).find((p) => p.pid === pid)?.session;

/** `roots` and every process below them. */
function withDescendants(all: ProcessInfo[], roots: Set<number>): Set<number> {
  const found = new Set(roots);
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of all) {
      if (!found.has(p.pid) && found.has(p.ppid)) {
        found.add(p.pid);
        grew = true;
      }
    }
  }
  return found;
}

/** The pids of this Berth (start process tree, router, Redis) and of its private engine. */
async function victims(
  dataDir: string,
  npmPid: number,
  engine: PrivateEngine,
): Promise<{ berth: Set<number>; engine: Set<number> }> {
  const all = await processes();
  const sessions = new Set<number>([npmPid]);
  for (const s of readStateFile(dataDir)?.services ?? []) {
    if (s.pid === undefined) continue;
    // A pid the file names may be another process's by now: it must be this Berth's.
    const environ = await readFile(`/proc/${s.pid}/environ`, 'utf8').catch(() => '');
    if (!environ.split('\0').includes(`BERTH_DATA_DIR=${dataDir}`)) continue;
    const session = await sessionOf(s.pid);
    if (session !== undefined) sessions.add(session);
  }
  // Never the session this process runs in (npm start is started in one of its own).
  sessions.delete((await sessionOf(process.pid)) ?? -1);
  const berthRoots = new Set<number>();
  for (const p of all) if (sessions.has(p.session)) berthRoots.add(p.pid);
  const redisPid = Number(
    (await readFile(path.join(dataDir, 'redis', 'redis.pid'), 'utf8').catch(() => '')).trim(),
  );
  if (redisPid > 0) berthRoots.add(redisPid);
  const engineRoots = new Set<number>();
  for (const p of all) {
    const [cmdline, environ] = await Promise.all([
      readFile(`/proc/${p.pid}/cmdline`, 'utf8').catch(() => ''),
      readFile(`/proc/${p.pid}/environ`, 'utf8').catch(() => ''),
    ]);
    if (environ.split('\0').includes(`BERTH_DATA_DIR=${dataDir}`)) berthRoots.add(p.pid);
    if (cmdline.includes(`${engine.dir}/`)) engineRoots.add(p.pid);
  }
  // Never this process or those above it (the test runner).
  const mine = new Set<number>();
  for (let pid: number | undefined = process.pid; pid && pid > 1; ) {
    mine.add(pid);
    pid = all.find((p) => p.pid === pid)?.ppid;
  }
  const berth = withDescendants(all, berthRoots);
  const eng = withDescendants(all, engineRoots);
  for (const set of [berth, eng]) for (const pid of mine) set.delete(pid);
  const shared = Number((await readFile('/var/run/docker.pid', 'utf8').catch(() => '')).trim());
  if (shared > 0 && (berth.has(shared) || eng.has(shared))) {
    throw new Error(`refusing to kill the shared dockerd (pid ${shared})`);
  }
  return { berth, engine: eng };
}

export async function powerLossFleet(
  t: Cleanups,
  o: {
    label: string;
    apps: number;
    log?: (line: string) => void;
    /** More images the private engine gets from the shared one (a datastore's, not built again). */
    images?: string[];
  },
): Promise<Fleet> {
  const log = o.log ?? ((line: string) => process.stderr.write(`# ${o.label}: ${line}\n`));
  const engine = await privateEngine(t);
  const engineOpts = {
    config: engine.config,
    progress: silentProgress,
    logDir: engine.dir,
    layout: engine.layout,
  };
  engine.engines.push(await ensureDockerEngine(engineOpts));
  await copyImages(
    [testStackImage(), BASE_IMAGE, ...(o.images ?? [])],
    testDockerTarget().dockerHost,
    engine.config.dockerHost,
  );
  log('private engine up with the stack image');

  const dir = await mkdtemp(path.join(os.tmpdir(), `berth-${o.label}-`));
  const dataDir = path.join(dir, 'data');
  const admin = await makeKeyPair(dir, 'admin');
  let platform = await startPlatform({
    dataDir,
    env: {
      BERTH_ADMIN_PUBKEY: admin.publicPath,
      DOCKER_HOST: engine.config.dockerHost,
      BERTH_STACK_IMAGE: testStackImage(),
      BERTH_APP_NETWORKS: engine.appNetworks,
    },
  });
  const env = platform.env;
  const knownHosts = await platformKnownHosts(platform, path.join(dir, 'known_hosts'));
  const sshPort = env.BERTH_SSH_PORT ?? '';
  const ssh = [
    ...opensshArgs({ port: sshPort, key: admin.privatePath, knownHosts }),
    'berth@127.0.0.1',
  ];
  const routerPort = Number(env.BERTH_HTTP_PORT);
  const httpsPort = Number(env.BERTH_HTTPS_PORT);

  const commandWithInput = (input: string | undefined, ...args: string[]) =>
    new Promise<string>((resolve, reject) => {
      const child = spawn('ssh', [...ssh, ...args], {
        stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout?.on('data', (d) => {
        stdout += d;
      });
      child.stderr?.on('data', (d) => {
        stderr += d;
      });
      child.stdin?.end(input);
      child.on('close', (code) =>
        code === 0
          ? resolve(stdout)
          : reject(new Error(`${args.join(' ')}: exit ${code}: ${stderr.trim()}`)),
      );
    });

  log('Berth ready');
  const apps: FleetApp[] = [];
  const suffix = Math.random().toString(36).slice(2, 6);
  for (let i = 0; i < o.apps; i++) {
    const name = `${o.label}${i}${suffix}`;
    const work = path.join(dir, name);
    await cp(path.join(FIXTURE_APPS_DIR, 'procfile-only'), work, { recursive: true });
    await writeFile(path.join(work, 'Procfile'), PROCFILE);
    const git = (...args: string[]) => run('git', args, { cwd: work });
    await git('init', '-q', '-b', 'main');
    await git('config', 'user.email', 'b@b');
    await git('config', 'user.name', 'b');
    await git('config', 'core.sshCommand', opensshCommand({ key: admin.privatePath, knownHosts }));
    await git('remote', 'add', 'deploy', `ssh://berth@127.0.0.1:${sshPort}/${name}`);
    apps.push({ name, host: `${name}.localhost`, work });
  }

  const commit = async (app: FleetApp, body: string, files: Files = {}) => {
    await writeFile(path.join(app.work, 'site', 'index.html'), body);
    for (const [file, content] of Object.entries(files)) {
      if (content === null) await rm(path.join(app.work, file), { force: true });
      else await writeFile(path.join(app.work, file), content);
    }
    await run('git', ['add', '-A'], { cwd: app.work });
    await run('git', ['commit', '-qm', body.trim()], { cwd: app.work });
  };
  const gitPush = (app: FleetApp) =>
    new Promise<{ code: number | null; output: string }>((resolve) => {
      const child = spawn('git', ['push', '-q', 'deploy', 'main'], {
        cwd: app.work,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let output = '';
      child.stderr?.on('data', (d) => {
        output += d;
      });
      child.on('close', (code) => resolve({ code, output }));
      child.on('error', (e) => resolve({ code: null, output: e.message }));
    });

  const fleet: Fleet = {
    dir,
    dataDir,
    engine,
    get platform() {
      return platform;
    },
    apps,
    routerPort,
    httpsPort,
    log,
    command: (...args) => commandWithInput(undefined, ...args),
    commandWithInput,
    async push(app, body, files) {
      await commit(app, body, files);
      const { code, output } = await gitPush(app);
      if (code !== 0) throw new Error(`git push of ${app.name}: exit ${code}:\n${output}`);
    },
    async pushInBackground(app, body, files) {
      await commit(app, body, files);
      return (await gitPush(app)).code;
    },
    async served(host, p = '/') {
      const r = await request(routerPort, host, { path: p }).catch(() => undefined);
      return r?.status === 200 ? r.body : undefined;
    },
    async cutPower() {
      log('cutting the power');
      const npmPid = platform.child.pid as number;
      const found = await victims(dataDir, npmPid, engine);
      const all = [...found.berth, ...found.engine];
      // One SIGKILL each, back to back: nothing gets to react to another's death.
      for (const pid of all) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
      // Gone: no process left (zombies wait only for their parent to reap them).
      const deadline = Date.now() + 15_000;
      for (;;) {
        const left = (await processes()).filter((p) => all.includes(p.pid) && !p.zombie);
        if (left.length === 0) break;
        if (Date.now() > deadline) {
          throw new Error(`still running after SIGKILL: ${left.map((p) => p.pid).join(' ')}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      // And nothing of theirs was started in the meantime.
      const again = await victims(dataDir, npmPid, engine);
      const late = [...again.berth, ...again.engine].filter(
        (pid) => !all.includes(pid) && pid !== npmPid,
      );
      for (const pid of late) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
      return { killed: all.length, berth: found.berth.size, engine: found.engine.size };
    },
    async powerOn() {
      log('power on: the engine starts, then npm start');
      const t0 = performance.now();
      engine.engines.push(await ensureDockerEngine(engineOpts));
      const engineMs = Math.round(performance.now() - t0);
      const startedAt = performance.now();
      platform = await startPlatform({ dataDir, env });
      return { engineMs, startedAt };
    },
    async close() {
      await platform.stop();
      await platform.stopRedis();
      // Whatever is left of this Berth (a failed drill may leave a router or a Redis).
      const left = await victims(dataDir, platform.child.pid as number, engine).catch(() => ({
        berth: new Set<number>(),
      }));
      for (const pid of left.berth) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
  return fleet;
}
