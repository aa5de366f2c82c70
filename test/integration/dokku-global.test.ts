// Dokku's `--global` settings and reports as a Dokku user's scripts drive
// them (issue 20), over real SSH (Berth's ssh service, the OpenSSH client):
// `*:set --global KEY VALUE` for scheduler, builder, builder-dockerfile, git
// (and proxy, buildpacks, network, whose Dokku-only settings are refused
// with what Berth does instead), `*:report --global`, the global/computed
// keys, `*:report` with no APP (every app the user may see, in turn), one
// value per report flag for every key of every report, Dokku's JSON, exit
// codes, and hostile input: refused in one line with nothing changed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { loadConfig } from '../../services/core/config.ts';
import { createLogger } from '../../services/core/log.ts';
import { dataPaths } from '../../services/core/paths.ts';
import { systemSearchPath } from '../../services/core/programs.ts';
import { Store } from '../../services/core/store/index.ts';
import { registerScheduler, schedulerNamed } from '../../services/platform/scheduler/schedulers.ts';
import { loadOrCreateHostKey } from '../../services/ssh/host-key.ts';
import { start } from '../../services/ssh/service.ts';
import { freePort } from '../harness/ports.ts';
import { prefixSnapshot, redisClient, sharedRedisUrl, testPrefix } from '../harness/redis.ts';
import { opensshArgs } from '../harness/ssh.ts';
import { type KeyPair, makeKeyPair } from '../harness/ssh-keys.ts';
import { tempDir } from '../harness/tmp.ts';

const dir = await tempDir('berth-dokku-global');
const dataDir = path.join(dir, 'data');
const prefix = testPrefix();
const redis = await redisClient(prefix);
const config = loadConfig({
  BERTH_DATA_DIR: dataDir,
  BERTH_SSH_PORT: String(await freePort()),
  BERTH_WEB_PORT: String(await freePort()),
  BERTH_METRICS_PORT: String(await freePort()),
  REDIS_URL: await sharedRedisUrl(),
  BERTH_REDIS_PREFIX: prefix,
});
const store = new Store(redis, prefix);
await store.checkSchema();

// A second scheduler by name only (nothing is deployed here): what
// `scheduler:set --global selected NAME` may name besides docker-local.
const unregister = registerScheduler('second', (deps) => schedulerNamed('docker-local', deps));
after(() => unregister());

const keys: Record<string, KeyPair> = {};
for (const [name, role] of [
  ['ada', 'admin'],
  ['bob', 'user'],
  ['eve', 'user'],
] as const) {
  keys[name] = await makeKeyPair(dir, name);
  await store.users.create(name, role);
  await store.users.addKey(name, keys[name].publicLine);
}

const ssh = await start({
  config,
  log: createLogger('ssh', { level: 'silent' }),
  searchPath: systemSearchPath(process.env.PATH),
});
after(() => ssh.stop());
const knownHosts = path.join(dir, 'known_hosts');
const hostKey = await loadOrCreateHostKey(dataPaths(dataDir).ssh);
await writeFile(knownHosts, `[127.0.0.1]:${config.sshPort} ${hostKey.publicKey}\n`);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** `dokku ARGS...` as a Dokku user's script runs it: ssh dokku@HOST -- ARGS. */
const dokku = (who: string, ...args: string[]): Promise<Run> =>
  new Promise((resolve) => {
    const key = keys[who];
    assert.ok(key);
    const child = spawn(
      'ssh',
      [
        ...opensshArgs({ port: config.sshPort, key: key.privatePath, knownHosts }),
        'dokku@127.0.0.1',
        '--',
        ...args,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });

/** Runs it and expects exit 0; its stdout. */
async function ok(who: string, ...args: string[]): Promise<string> {
  const r = await dokku(who, ...args);
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** Refused with `code` and one line matching `line`, and nothing changed in Redis. */
async function refused(who: string, args: string[], code: number, line: RegExp) {
  const before = await prefixSnapshot(redis, prefix);
  const r = await dokku(who, ...args);
  assert.equal(r.code, code, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
  assert.match(r.stderr, line);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.equal(await prefixSnapshot(redis, prefix), before, `${args.join(' ')} changed Redis`);
}

await ok('bob', 'apps:create', 'alpha');
await ok('bob', 'apps:create', 'beta');
await ok('eve', 'apps:create', 'evesapp');

describe('--global, as Dokku sets and reports it', () => {
  test('scheduler: the global default, the app’s own, and the computed one', async () => {
    assert.equal(await ok('bob', 'scheduler:report', 'alpha', '--scheduler-selected'), '\n');
    assert.equal(
      await ok('bob', 'scheduler:report', 'alpha', '--scheduler-computed-selected'),
      'docker-local\n',
    );
    assert.equal(
      await ok('ada', 'scheduler:set', '--global', 'selected', 'second'),
      '=====> Setting selected to second\n',
    );
    // Anyone signed in reads the global report; Dokku's keys and its legacy ones.
    const global = JSON.parse(await ok('eve', 'scheduler:report', '--global', '--format', 'json'));
    assert.equal(global['global-selected'], 'second');
    assert.equal(global['computed-selected'], 'second');
    assert.equal(global['scheduler-global-selected'], 'second');
    assert.equal(
      await ok('bob', 'scheduler:report', 'alpha', '--scheduler-computed-selected'),
      'second\n',
    );
    await ok('bob', 'scheduler:set', 'alpha', 'selected', 'docker-local');
    assert.equal(
      await ok('bob', 'scheduler:report', 'alpha', '--scheduler-computed-selected'),
      'docker-local\n',
    );
    // No value: the app follows the global one again.
    await ok('bob', 'scheduler:set', 'alpha', 'selected');
    assert.equal(await ok('bob', 'scheduler:report', 'alpha', '--scheduler-selected'), '\n');
    assert.equal(
      await ok('bob', 'scheduler:report', 'alpha', '--scheduler-computed-selected'),
      'second\n',
    );
    await ok('ada', 'scheduler:set', '--global', 'selected');
    assert.equal(
      await ok('eve', 'scheduler:report', '--global', '--scheduler-global-selected'),
      '\n',
    );
    assert.equal(
      await ok('bob', 'scheduler:report', 'alpha', '--scheduler-computed-selected'),
      'docker-local\n',
    );
  });

  test('scheduler --global: a deployed app without its own keeps the scheduler it runs on', async () => {
    await ok('bob', 'apps:create', 'running');
    // A release with an image: what a deploy leaves (nothing runs here; the record is what counts).
    const release = await store.releases.create('running', {
      image: 'img:1',
      description: 'Deploy',
      by: 'bob',
    });
    await store.releases.setStatus('running', release.version, 'succeeded');
    const out = await ok('ada', 'scheduler:set', '--global', 'selected', 'second');
    assert.match(
      out,
      /^ {7}running keeps running on docker-local \(scheduler:set running selected second moves it\)$/m,
    );
    assert.equal(
      await ok('bob', 'scheduler:report', 'running', '--scheduler-selected'),
      'docker-local\n',
    );
    // An app never deployed follows the global one.
    assert.equal(
      await ok('bob', 'scheduler:report', 'beta', '--scheduler-computed-selected'),
      'second\n',
    );
    await ok('ada', 'scheduler:set', '--global', 'selected');
    await ok('bob', 'apps:destroy', 'running', '--force');
  });

  test('builder and builder-dockerfile: an app without its own takes the global one', async () => {
    await ok('ada', 'builder:set', '--global', 'selected', 'dockerfile');
    await ok('ada', 'builder-dockerfile:set', '--global', 'dockerfile-path', 'docker/Dockerfile');
    assert.equal(
      await ok('bob', 'builder:report', 'alpha', '--builder-computed-selected'),
      'dockerfile\n',
    );
    assert.equal(
      await ok('bob', 'builder:report', 'alpha', '--builder-global-selected'),
      'dockerfile\n',
    );
    assert.equal(await ok('bob', 'builder:report', 'alpha', '--builder-selected'), '\n');
    await ok('bob', 'builder:set', 'alpha', 'selected', 'buildpacks');
    assert.equal(
      await ok('bob', 'builder:report', 'alpha', '--builder-computed-selected'),
      'buildpacks\n',
    );
    const df = JSON.parse(await ok('bob', 'builder-dockerfile:report', 'beta', '--format', 'json'));
    assert.deepEqual(df, {
      'computed-dockerfile-path': 'docker/Dockerfile',
      'global-dockerfile-path': 'docker/Dockerfile',
      'dockerfile-path': '',
    });
    await ok('bob', 'builder-dockerfile:set', 'beta', 'dockerfile-path', 'Dockerfile.web');
    assert.equal(
      await ok(
        'bob',
        'builder-dockerfile:report',
        'beta',
        '--builder-dockerfile-computed-dockerfile-path',
      ),
      'Dockerfile.web\n',
    );
    await ok('ada', 'builder:set', '--global', 'selected');
    await ok('ada', 'builder-dockerfile:set', '--global', 'dockerfile-path');
    assert.equal(
      await ok(
        'bob',
        'builder-dockerfile:report',
        '--global',
        '--builder-dockerfile-computed-dockerfile-path',
      ),
      'Dockerfile\n',
    );
  });

  test('git: the global deploy branch is the one new apps get; an app’s own stays', async () => {
    assert.equal(
      await ok('ada', 'git:set', '--global', 'deploy-branch', 'release'),
      '=====> Setting deploy-branch to release\n',
    );
    assert.equal(
      await ok('eve', 'git:report', '--global', '--git-computed-deploy-branch'),
      'release\n',
    );
    await ok('bob', 'apps:create', 'gamma');
    assert.equal(await ok('bob', 'git:report', 'gamma', '--git-deploy-branch'), 'release\n');
    assert.equal(await ok('bob', 'git:report', 'alpha', '--git-deploy-branch'), 'main\n');
    assert.equal(await ok('bob', 'git:report', 'alpha', '--git-global-deploy-branch'), 'release\n');
    // No value: back to the global one.
    await ok('bob', 'git:set', 'alpha', 'deploy-branch');
    assert.equal(
      await ok('bob', 'git:report', 'alpha', '--git-computed-deploy-branch'),
      'release\n',
    );
    await ok('ada', 'git:set', '--global', 'deploy-branch');
    assert.equal(await ok('eve', 'git:report', '--global', '--git-global-deploy-branch'), '\n');
    await ok('bob', 'git:set', 'alpha', 'deploy-branch', 'main');
  });

  test('proxy, buildpacks, network: Dokku’s keys with Berth’s values; their Dokku-only settings say what to do', async () => {
    const proxy = JSON.parse(await ok('bob', 'proxy:report', 'alpha', '--format', 'json'));
    assert.equal(proxy['computed-type'], 'berth');
    assert.equal(proxy.type, '');
    assert.equal(proxy['global-type'], '');
    assert.equal(proxy['proxy-computed-type'], 'berth');
    assert.equal(proxy.enabled, 'true');
    assert.equal(await ok('eve', 'proxy:report', '--global', '--proxy-computed-type'), 'berth\n');
    assert.equal(
      await ok('bob', 'buildpacks:report', '--global', '--buildpacks-global-stack'),
      '\n',
    );
    assert.deepEqual(
      Object.keys(
        JSON.parse(await ok('bob', 'network:report', '--global', '--format', 'json')),
      ).sort(),
      [
        'computed-attach-post-deploy',
        'computed-initial-network',
        'global-attach-post-deploy',
        'global-initial-network',
        'network-computed-attach-post-deploy',
        'network-computed-initial-network',
        'network-global-attach-post-deploy',
        'network-global-initial-network',
      ],
    );
    await refused(
      'ada',
      ['proxy:set', '--global', 'type', 'caddy'],
      2,
      /^berth: proxy:set --global type: Berth's own router serves every app/,
    );
    await refused(
      'bob',
      ['proxy:set', 'alpha', 'proxy-port', '8080'],
      2,
      /^berth: proxy:set alpha proxy-port: the router listens on BERTH_HTTP_PORT/,
    );
    await refused(
      'ada',
      ['buildpacks:set-property', '--global', 'stack', 'gliderlabs/herokuish'],
      2,
      /^berth: buildpacks:set-property stack: builds run on Berth's one Debian 12 stack/,
    );
    await refused(
      'ada',
      ['network:set', '--global', 'attach-post-deploy', 'shared'],
      2,
      /^berth: network:set --global attach-post-deploy: a network every app joins/,
    );
  });
});

describe('*:report with no APP: every app the user may see, in turn', () => {
  test('text blocks, one JSON object a line, one value a line; Dokku’s words when there is none', async () => {
    const text = await ok('bob', 'git:report');
    const titles = text.split('\n').filter((l) => l.startsWith('=====> '));
    assert.deepEqual(titles, [
      '=====> alpha git information',
      '=====> beta git information',
      '=====> gamma git information',
    ]);
    // Dokku's layout: keys sorted, each padded to 31 and the value right after it.
    assert.match(
      text,
      /^=====> alpha git information\n {7}Git computed deploy branch: {4}main\n {7}Git deploy branch: {13}main\n {7}Git global deploy branch: {6}\n/,
    );
    const lines = (await ok('bob', 'scheduler:report', '--format', 'json')).trimEnd().split('\n');
    assert.equal(lines.length, 3);
    assert.deepEqual(
      lines.map((l) => JSON.parse(l).app),
      ['alpha', 'beta', 'gamma'],
    );
    assert.equal(await ok('bob', 'proxy:report', '--proxy-computed-type'), 'berth\nberth\nberth\n');
    // eve sees her own app only.
    assert.equal(
      (await ok('eve', 'builder:report'))
        .split('\n')
        .filter((l) => l.startsWith('=====> '))
        .join(),
      '=====> evesapp builder information',
    );
    // ada, an admin, sees every app.
    assert.equal(
      (await ok('ada', 'ps:report', '--format', 'json')).trimEnd().split('\n').length,
      4,
    );
    await ok('eve', 'apps:destroy', 'evesapp', '--force');
    const none = await dokku('eve', 'checks:report');
    assert.equal(none.code, 0);
    assert.equal(none.stdout, '');
    assert.equal(none.stderr, " !     You haven't deployed any applications yet\n");
  });
});

/** Every report namespace, over one app: each label of its text is a flag printing that value. */
const REPORTS = [
  'apps',
  'builder',
  'builder-dockerfile',
  'buildpacks',
  'checks',
  'docker-options',
  'git',
  'logs',
  'network',
  'nginx',
  'proxy',
  'ps',
  'scheduler',
  'storage',
];

describe('every report key has its single-value flag', () => {
  test('for each report, each `Label: value` line is `--label` printing value alone', async () => {
    let count = 0;
    for (const ns of REPORTS) {
      for (const target of ['alpha', '--global']) {
        const r = await dokku('ada', `${ns}:report`, target);
        if (target === '--global' && r.code !== 0) continue;
        assert.equal(r.code, 0, `${ns}:report ${target}: ${r.stderr}`);
        const header = `=====> ${target} ${ns === 'apps' ? 'app' : ns} information`;
        assert.equal(r.stdout.split('\n')[0], header, `${ns}:report ${target}`);
        const rows = r.stdout
          .split('\n')
          .slice(1)
          .filter((l) => /^ {7}[A-Z][^:]*:/.test(l))
          .map((l) => /^ {7}([^:]+):\s*(.*)$/.exec(l)?.slice(1) as [string, string]);
        assert.ok(rows.length > 0, `${ns}:report ${target}: no rows`);
        const flags = rows.map(
          ([label]) => `--${label.toLowerCase().replace(/[^a-z0-9_]+/g, '-')}`,
        );
        // Dokku's order: sorted by flag.
        assert.deepEqual(flags, [...flags].sort(), `${ns}:report ${target} is not sorted`);
        for (const [i, [, value]] of rows.entries()) {
          const one = await dokku('ada', `${ns}:report`, target, flags[i] as string);
          assert.equal(one.code, 0, `${ns}:report ${target} ${flags[i]}: ${one.stderr}`);
          assert.equal(one.stdout.trimEnd(), value.trimEnd(), `${ns}:report ${target} ${flags[i]}`);
          count++;
        }
        // ps:report --format json prints Berth's instances (docs/dokku-differences.md).
        if (ns === 'ps' && target !== '--global') continue;
        const json = JSON.parse(
          await ok('ada', `${ns}:report`, target, '--format', 'json'),
        ) as Record<string, unknown>;
        for (const [i, [, value]] of rows.entries()) {
          const key = (flags[i] as string)
            .slice(2)
            .replace(new RegExp(`^${ns === 'apps' ? 'app' : ns}-`), '');
          assert.equal(
            String(json[key]).trimEnd(),
            value.trimEnd(),
            `${ns}:report ${target} JSON ${key}`,
          );
        }
      }
    }
    // Every namespace's app report, and the --global ones there are.
    assert.ok(count > 60, `only ${count} flags`);
  });

  test('an unknown flag: Dokku’s line, exit 2; --format with a flag is refused', async () => {
    await refused(
      'bob',
      ['scheduler:report', 'alpha', '--scheduler-nope'],
      2,
      /^berth: Invalid flag passed, valid flags: --scheduler-computed-selected, --scheduler-global-selected, --scheduler-selected/,
    );
    await refused(
      'bob',
      ['git:report', 'alpha', '--git-deploy-branch', '--format', 'json'],
      2,
      /^berth: --format flag cannot be specified when specifying an info flag/,
    );
  });
});

describe('hostile input to the --global settings', () => {
  test('a user is refused every admin-only global, and nothing changes', async () => {
    for (const argv of [
      ['scheduler:set', '--global', 'selected', 'second'],
      ['builder:set', '--global', 'selected', 'image'],
      ['builder-dockerfile:set', '--global', 'dockerfile-path', 'x/Dockerfile'],
      ['git:set', '--global', 'deploy-branch', 'evil'],
      ['proxy:set', '--global', 'type', 'caddy'],
      ['network:set', '--global', 'attach-post-deploy', 'x'],
      ['buildpacks:set-property', '--global', 'stack', 'x'],
    ]) {
      await refused('bob', argv, 1, new RegExp(`^berth: ${argv[0]} --global is for admins`));
    }
  });

  test('bad keys and values: one line, exit 2, nothing changed', async () => {
    for (const [argv, line] of [
      [['scheduler:set', '--global', 'selected', 'nomad'], /no scheduler named "nomad"/],
      [['scheduler:set', '--global', 'shell', 'sh'], /scheduler:set has no setting "shell"/],
      [['builder:set', '--global', 'selected', 'herokuish'], /unknown builder "herokuish"/],
      [['builder:set', '--global', 'build-dir', 'x'], /builder:set has no setting "build-dir"/],
      [
        ['builder-dockerfile:set', '--global', 'dockerfile-path', '../../etc/passwd'],
        /invalid path/,
      ],
      [['builder-dockerfile:set', '--global', 'dockerfile-path', '/etc/passwd'], /invalid path/],
      [['builder-dockerfile:set', '--global', 'build-args', 'A'], /has no setting "build-args"/],
      [['git:set', '--global', 'deploy-branch', '../../x'], /invalid branch/],
      [['git:set', '--global', 'deploy-branch', '-x'], /invalid branch|Unknown option/],
      [['git:set', '--global', 'keep-git-dir', 'true'], /git:set has no setting "keep-git-dir"/],
      [
        ['scheduler:set', '--global', 'selected', 'a;rm -rf /'],
        /no scheduler named|invalid|Unknown option/,
      ],
    ] as const) {
      await refused('ada', [...argv], 2, line);
    }
  });
});
