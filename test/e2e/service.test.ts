// `berth service:install|status|uninstall` (issue 17, item 2): the unit
// and environment file it writes, checked by systemd's own tools
// (systemd-analyze verify, and systemd's environment-file parser), then the
// unit's command line run as systemd would run it (its environment, its
// working directory, SIGTERM to stop), on a machine where systemd is not
// PID 1. Each test writes into a unit directory of its own, under a unit
// name of its own; the Berth it starts has its own data directory, ports,
// Redis and key prefix (test/harness/platform.ts).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { CommandContext } from '../../cli/command.ts';
import { dispatch } from '../../cli/dispatch.ts';
import { renderUnit } from '../../infra/systemd/unit.ts';
import { ROOT as ROOT_ACTOR } from '../../services/core/actor.ts';
import { loadConfig } from '../../services/core/config.ts';
import { systemSearchPath } from '../../services/core/programs.ts';
import { IDLE_HEAP_OPTIONS } from '../../services/core/runtime.ts';
import { berthCommand, platformEnv, servicesOf, startPlatform } from '../harness/platform.ts';
import { makeKeyPair } from '../harness/ssh-keys.ts';
import {
  envFileAgrees,
  execArgv,
  parseEnvFile,
  parseUnit,
  serviceEnvironment,
  value,
  values,
} from '../harness/systemd.ts';
import { tempDir } from '../harness/tmp.ts';
import { until } from '../harness/wait.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
const systemdRuns = await access('/run/systemd/system').then(
  () => true,
  () => false,
);

/**
 * The server-local `berth` in this process, as cli/main.ts runs it for root
 * (the same dispatcher, a host, the configuration from `env`), so that the
 * many cases below do not each start a node process; berthCommand runs the
 * real process where the environment it reads matters.
 */
async function berthHere(argv: string[], env: Record<string, string> = {}) {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.on('data', (d) => {
    stdout += d;
  });
  err.on('data', (d) => {
    stderr += d;
  });
  const ctx: CommandContext = {
    actor: ROOT_ACTOR,
    stdin: Readable.from([]),
    stdout: out,
    stderr: err,
    signal: new AbortController().signal,
    config: () => loadConfig(env),
    store: () => Promise.reject(new Error('no store here')),
    host: { searchPath: systemSearchPath(process.env.PATH), isRoot: true, baseEnv: env },
  };
  const code = await dispatch(argv, ctx);
  return { code, stdout, stderr };
}

const unitName = () => `berth-test-${randomBytes(4).toString('hex')}`;
const oneLine = (text: string) => {
  const lines = text.trim().split('\n');
  assert.equal(lines.length, 1, text);
  return lines[0] ?? '';
};

/** Every path under `dir` whose name contains `needle` (systemd's enablement links included). */
async function namesUnder(dir: string, needle: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
  return entries.filter((e) => e.includes(needle));
}

/**
 * A directory whose name has every character the two files must carry
 * through: quotes, "$", a backquote, a backslash, "%", "#", ";" and a
 * newline, none of which a shell or systemd may interpret on the way.
 */
async function awkwardDir(): Promise<string> {
  const dir = path.join(await tempDir(), `we"ird $HOME \`id\` 'q' 100%n\\x #;\nline`);
  await mkdir(dir);
  return dir;
}

describe('berth service:install', () => {
  test('writes a unit systemd-analyze verify accepts and an environment file systemd reads back; status; uninstall removes both', async () => {
    assert.equal(
      spawnSync('systemd-analyze', ['--version']).status,
      0,
      'systemd-analyze is missing: npm test installs Debian package systemd (test/run.ts)',
    );
    const dir = await tempDir('berth-unit');
    const name = unitName();
    const env = {
      BERTH_DOMAIN: 'berth.test',
      BERTH_ACME_EMAIL: `o'ne"$HOME\`id\`\\%n@example.com`,
      BERTH_ADMIN_PUBKEY: path.join(await awkwardDir(), 'admin.pub  '),
      // Empty: the default, so not written; the other two are no settings of Berth's.
      BERTH_LOG_LEVEL: '',
      BERTH_NOT_A_SETTING: 'x',
      UNRELATED: 'y',
    };
    const r = await berthCommand(['service:install', '--unit-dir', dir, '--name', name], env);
    assert.equal(r.code, 0, r.stderr);
    const unitFile = path.join(dir, `${name}.service`);
    const envFile = path.join(dir, `${name}.env`);
    assert.deepEqual(r.stdout.split('\n').slice(0, 2), [
      `wrote ${unitFile}`,
      `wrote ${envFile} (mode 0600): BERTH_DOMAIN, BERTH_ACME_EMAIL, BERTH_ADMIN_PUBKEY`,
    ]);
    if (!systemdRuns) {
      // Not enabled (the directory is no place systemd reads), and it says what to run; no failure.
      assert.match(r.stderr, /systemd is not running here \(PID 1 is [^)]+\)/);
      assert.ok(r.stderr.includes(`"systemctl enable ${name}.service"`), r.stderr);
    }
    assert.equal((await stat(envFile)).mode & 0o777, 0o600);
    assert.equal((await stat(unitFile)).mode & 0o777, 0o644);
    // Nothing outside its directory: no enablement link in the machine's own units.
    assert.deepEqual(await namesUnder('/etc/systemd/system', name), []);

    // The environment file holds the settings set, exactly, as systemd reads them.
    const written = parseEnvFile(await readFile(envFile, 'utf8'));
    assert.deepEqual(Object.fromEntries(written), {
      BERTH_DOMAIN: env.BERTH_DOMAIN,
      BERTH_ACME_EMAIL: env.BERTH_ACME_EMAIL,
      BERTH_ADMIN_PUBKEY: env.BERTH_ADMIN_PUBKEY,
    });
    for (const [k, v] of written) {
      assert.ok(envFileAgrees(envFile, k, v), `systemd reads ${k} as ${JSON.stringify(v)}`);
      assert.ok(!envFileAgrees(envFile, k, `${v}x`), `the check of ${k} can fail`);
    }

    const verify = spawnSync('systemd-analyze', ['verify', '--man=no', unitFile], {
      encoding: 'utf8',
    });
    const about = `${verify.stdout}${verify.stderr}`
      .split('\n')
      .filter((l) => l.includes(name) || l.includes(dir));
    assert.equal(verify.status, 0, verify.stdout + verify.stderr);
    assert.deepEqual(about, [], 'systemd-analyze has nothing to say about the unit');

    const unit = parseUnit(await readFile(unitFile, 'utf8'));
    assert.deepEqual(execArgv(value(unit, 'Service', 'ExecStart')), [
      process.execPath,
      ...IDLE_HEAP_OPTIONS,
      path.join(ROOT, 'infra/run.mjs'),
      'start',
    ]);
    assert.equal(value(unit, 'Service', 'WorkingDirectory'), ROOT);
    assert.equal(value(unit, 'Service', 'EnvironmentFile'), envFile);
    assert.equal(value(unit, 'Service', 'ExecReload'), '/bin/kill -HUP $MAINPID');
    assert.equal(value(unit, 'Service', 'Restart'), 'always');
    assert.equal(value(unit, 'Service', 'KillMode'), 'process');
    for (const key of ['Wants', 'After']) {
      const deps = values(unit, 'Unit', key).join(' ').split(' ');
      assert.ok(deps.includes('docker.service') && deps.includes('network-online.target'), key);
    }
    assert.ok(Number(value(unit, 'Service', 'LimitNOFILE')) >= 65536);
    // Longer than the supervisor's own grace (35 s), so the router drains before any SIGKILL.
    assert.ok(Number.parseInt(value(unit, 'Service', 'TimeoutStopSec'), 10) > 35);

    const status = await berthHere(
      ['service:status', '--unit-dir', dir, '--name', name, '--format', 'json'],
      {},
    );
    assert.equal(status.code, 0, status.stderr);
    const s = JSON.parse(status.stdout) as Record<string, unknown>;
    assert.deepEqual(
      [s.installed, s.writtenByBerth, s.envFileInstalled, s.unitFile],
      [true, true, true, unitFile],
    );
    if (!systemdRuns) assert.match(String(s.active), /^unknown: systemd is not running here/);
    const text = await berthHere(['service:status', '--unit-dir', dir, '--name', name], {});
    assert.ok(text.stdout.includes(`${unitFile} (installed)`), text.stdout);

    const removed = await berthHere(['service:uninstall', '--unit-dir', dir, '--name', name], {});
    assert.equal(removed.code, 0, removed.stderr);
    assert.deepEqual(removed.stdout.trim().split('\n'), [
      `removed ${unitFile}`,
      `removed ${envFile}`,
    ]);
    assert.deepEqual(await readdir(dir), []);
    const after = await berthHere(
      ['service:status', '--unit-dir', dir, '--name', name, '--format', 'json'],
      {},
    );
    assert.equal((JSON.parse(after.stdout) as { installed: boolean }).installed, false);
    const again = await berthHere(['service:uninstall', '--unit-dir', dir, '--name', name], {});
    assert.equal(again.code, 1);
    assert.match(oneLine(again.stderr), /^berth: no Berth unit berth-test-\w+\.service in /);
  });

  test("a bad --name or --unit-dir, or a unit of someone else's, is one line and writes nothing", async () => {
    const dir = await tempDir('berth-unit');
    // Directories that exist, whose names would break the unit's lines
    // (EnvironmentFile= is written with the directory in it).
    const newline = path.join(dir, 'x\nExecStartPre=');
    const backslash = path.join(dir, 'x\\');
    await mkdir(newline);
    await mkdir(backslash);
    const cases: [string[], RegExp][] = [
      [['--name', 'Berth'], /^berth: invalid unit name "Berth": use 1-64 lower-case/],
      [
        ['--name', 'berth.service'],
        /^berth: invalid unit name "berth.service": give the name without ".service"/,
      ],
      [['--name', '../etc/x'], /^berth: invalid unit name/],
      [['--name', 'a b'], /^berth: invalid unit name/],
      [['--name', 'x\n[Service]'], /^berth: invalid unit name "x\\n\[Service\]"/],
      [['--name', ''], /^berth: invalid unit name "": it is empty/],
      [
        ['--unit-dir', 'relative/dir'],
        /^berth: invalid unit directory "relative\/dir": use an absolute path/,
      ],
      [
        ['--unit-dir', `${dir}/missing`],
        /^berth: invalid unit directory ".*\/missing": no such directory/,
      ],
      [['--unit-dir', `${dir}/../x`], /^berth: invalid unit directory .*: no "\." or "\.\."/],
      [['--unit-dir', newline], /^berth: invalid unit directory .*: no control characters/],
      [
        ['--unit-dir', backslash],
        /^berth: invalid unit directory .*: no control characters, backslashes/,
      ],
      [
        ['--unit-dir', '/etc/hostname'],
        /^berth: invalid unit directory "\/etc\/hostname": not a directory/,
      ],
      [['--unit-dir'], /^berth: .*--unit-dir.*argument missing/],
    ];
    // Every case through install; status and uninstall share its checks, so two cases each.
    const runs = [
      ...cases.map(([args, expected]) => ['service:install', args, expected] as const),
      ...['service:status', 'service:uninstall'].flatMap((command) =>
        [cases[0], cases[7]].map((c) => [command, c?.[0] ?? [], c?.[1] ?? /$^/] as const),
      ),
    ];
    for (const [i, [command, args, expected]] of runs.entries()) {
      // A name of its own where the case is about the directory: were the
      // directory not refused, systemctl would be asked about no unit of the machine's.
      const withDir =
        args[0] !== '--unit-dir'
          ? [...args, '--unit-dir', dir]
          : args.length === 2
            ? [...args, '--name', unitName()]
            : args;
      // The first through the real process, the rest through the same dispatcher here.
      const r = await (i === 0 ? berthCommand : berthHere)([command, ...withDir], {});
      assert.equal(r.code, 2, `${command} ${JSON.stringify(args)}: ${r.stderr}`);
      assert.match(oneLine(r.stderr), expected);
    }
    assert.deepEqual((await readdir(dir, { recursive: true })).sort(), ['x\nExecStartPre=', 'x\\']);
    await rm(newline, { recursive: true });
    await rm(backslash, { recursive: true });

    // A unit of that name not written by Berth is neither replaced nor removed.
    const name = unitName();
    const theirs = path.join(dir, `${name}.service`);
    await writeFile(theirs, '[Unit]\nDescription=not Berth\n');
    for (const command of ['service:install', 'service:uninstall']) {
      const r = await berthHere([command, '--unit-dir', dir, '--name', name], {});
      assert.equal(r.code, 1, r.stderr);
      assert.equal(
        oneLine(r.stderr),
        `berth: ${theirs} exists and was not written by "berth service:install" — pick another name with --name, or move that file away yourself`,
      );
    }
    assert.deepEqual(await readdir(dir), [`${name}.service`]);
    assert.equal(await readFile(theirs, 'utf8'), '[Unit]\nDescription=not Berth\n');
  });

  test('paths with quotes, "$", "%", "#" and spaces reach systemd as they are; one it cannot read back is refused', async () => {
    // systemd runs no program with quotes in its path; the other files may have them.
    const dir = path.join(await tempDir(), `we"ird $HOME \`id\` 'q' 100%n #;`);
    const nodeDir = path.join(await tempDir(), `$HOME \`id\` 100%n #;`);
    await mkdir(dir);
    await mkdir(nodeDir);
    const node = path.join(nodeDir, 'no de');
    await symlink(process.execPath, node);
    const name = unitName();
    const unitFile = path.join(dir, `${name}.service`);
    const envFile = path.join(dir, `${name}.env`);
    const text = renderUnit({ name, node, envFile, root: dir });
    const verify = (file: string) => {
      const r = spawnSync('systemd-analyze', ['verify', '--man=no', file], { encoding: 'utf8' });
      const said = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.includes(name));
      return { ok: r.status === 0 && said.length === 0, said };
    };
    // systemd-analyze verify checks that ExecStart's program exists where systemd reads it.
    await writeFile(unitFile, text);
    assert.deepEqual(verify(unitFile), { ok: true, said: [] });
    const unit = parseUnit(text);
    assert.deepEqual(execArgv(value(unit, 'Service', 'ExecStart')), [
      node,
      ...IDLE_HEAP_OPTIONS,
      path.join(dir, 'infra/run.mjs'),
      'start',
    ]);
    assert.equal(value(unit, 'Service', 'WorkingDirectory').replaceAll('%%', '%'), dir);
    assert.equal(value(unit, 'Service', 'EnvironmentFile').replaceAll('%%', '%'), envFile);
    // The control: the same path written as it is, systemd looks elsewhere.
    await writeFile(unitFile, text.replace(/^ExecStart=.*$/m, `ExecStart=${node} start`));
    assert.equal(verify(unitFile).ok, false);

    for (const bad of [
      `${nodeDir}/a\nb`,
      `${nodeDir}/a\\b`,
      `${nodeDir}/node `,
      'node',
      `${dir}/node`,
    ]) {
      assert.throws(() => renderUnit({ name, node: bad, envFile }), {
        code: 'BERTH_E_INVALID_NAME',
      });
    }
  });

  test("the unit's ExecStart, run as systemd runs it, brings Berth up with the settings of its environment file; SIGTERM stops it all", async (t) => {
    const dataDir = path.join(await tempDir(), 'data');
    const keys = await makeKeyPair(await awkwardDir(), 'admin');
    // Its own ports, Redis (which Berth starts) and key prefix; the admin key
    // from a path that only arrives whole if the environment file is read right.
    const env = await platformEnv(dataDir, { BERTH_ADMIN_PUBKEY: keys.publicPath });
    const dir = await tempDir('berth-unit');
    const name = unitName();
    const installed = await berthCommand(
      ['service:install', '--unit-dir', dir, '--name', name],
      env,
    );
    assert.equal(installed.code, 0, installed.stderr);

    const unit = parseUnit(await readFile(path.join(dir, `${name}.service`), 'utf8'));
    const unitEnv = await serviceEnvironment(unit);
    for (const [k, v] of Object.entries(env)) assert.equal(unitEnv[k], v, k);
    assert.equal(unitEnv.BERTH_TEST_RUN, undefined, "the test run's own variables stay out");
    const cwd = value(unit, 'Service', 'WorkingDirectory');
    for (const line of values(unit, 'Service', 'ExecStartPre')) {
      const [file, ...args] = execArgv(line);
      const pre = spawnSync(file, args, { cwd, env: unitEnv, encoding: 'utf8', timeout: 600_000 });
      assert.equal(pre.status, 0, `ExecStartPre=${line}: ${pre.stderr}`);
    }
    const [file, ...args] = execArgv(value(unit, 'Service', 'ExecStart'));

    const p = await startPlatform({ dataDir, env, exec: { file, args, cwd, env: unitEnv } });
    // Whatever the test left too (the router outlives its supervisor by design).
    t.after(() => p.stopAll());
    const web = `http://127.0.0.1:${env.BERTH_WEB_PORT}`;
    assert.equal((await fetch(`${web}/healthz`)).status, 200);
    const listed = await berthCommand(['ssh-keys:list', '--format', 'json'], env);
    assert.equal(listed.code, 0, listed.stderr);
    const [key] = JSON.parse(listed.stdout) as { user: string; fingerprint: string }[];
    assert.deepEqual([key?.user, key?.fingerprint], ['admin', keys.fingerprint]);
    assert.ok((await servicesOf(dataDir, 'router')).length >= 2, 'a primary and a router process');

    // systemctl stop: SIGTERM to the main process alone; Berth stops as on Ctrl-C, the router too.
    const { clean, ms } = await p.stop();
    assert.ok(clean, p.stderr.join('\n'));
    await assert.rejects(fetch(`${web}/healthz`));
    // Nothing left in the unit for systemd to kill (KillMode=process would leave it running).
    await until(
      'every service stopped',
      async () => (await servicesOf(dataDir)).length === 0,
      10_000,
    );
    t.diagnostic(
      `ExecStart to ready ${Math.round(p.readyMs)} ms; SIGTERM to exit ${Math.round(ms)} ms`,
    );
  });
});
