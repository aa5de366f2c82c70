// The command line as users meet it, through the one dispatcher the SSH
// server and the local berth share: grammar, permissions, hostile input.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ROOT } from '../../services/core/actor.ts';
import { loadConfig } from '../../services/core/config.ts';
import { dataPaths } from '../../services/core/paths.ts';
import { Store } from '../../services/core/store/index.ts';
import { appBuildsKey } from '../../services/platform/build/queue.ts';
import { ensureRepo } from '../../services/platform/git/repos.ts';
import { commandRunner, userActor } from '../harness/commands.ts';
import { redisClient, testPrefix } from '../harness/redis.ts';
import { makeKeyPair } from '../harness/ssh-keys.ts';
import { tempDir } from '../harness/tmp.ts';

const prefix = testPrefix();
const redis = await redisClient(prefix);
const store = new Store(redis, prefix);
const run = commandRunner(store);
const alice = userActor('alice', 'admin');
const bob = userActor('bob');
const carol = userActor('carol');
const dave = userActor('dave');
for (const u of [alice, bob, carol, dave]) {
  if (u.kind === 'user') await store.users.create(u.user, u.role);
}
const keyCount = async () => (await redis.keys(`${prefix}*`)).length;
const oneLine = (s: string) => s.trim().split('\n').length === 1;

describe('help and grammar', () => {
  test('help lists the namespaces; help NAMESPACE its commands; help COMMAND its usage', async () => {
    const top = await run(bob, ['help']);
    assert.equal(top.code, 0);
    for (const ns of ['apps', 'access', 'git', 'ssh-keys'])
      assert.match(top.stdout, new RegExp(`^    ${ns} `, 'm'));
    const apps = await run(bob, ['help', 'apps']);
    assert.match(apps.stdout, /apps:create APP/);
    assert.match(apps.stdout, /apps:destroy APP \[--force \| --confirm APP\]/);
    assert.doesNotMatch(apps.stdout, /ssh-keys:add/);
    assert.match(
      (await run(bob, ['apps:create', '--help'])).stdout,
      /^Usage: berth apps:create APP/,
    );
  });

  test('an unknown command is a usage error (exit 2) in one line', async () => {
    const r = await run(bob, ['apps:explode', 'x']);
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr,
      'berth: unknown command "apps:explode" — run "berth help" for the commands\n',
    );
  });

  test('version', async () => {
    assert.match((await run(dave, ['version'])).stdout, /^berth \d+\.\d+\.\d+\n$/);
  });
});

describe('apps', () => {
  test('create, list (only your own), info, json', async () => {
    const created = await run(bob, ['apps:create', 'shop']);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /Created shop \(owner bob\)/);
    assert.match(created.stdout, /git remote add deploy ssh:\/\/berth@berth\.test:2222\/shop/);
    await run(carol, ['apps:create', 'blog']);
    // Dokku's shape: the names.
    assert.deepEqual(JSON.parse((await run(bob, ['apps:list', '--format', 'json'])).stdout), [
      'shop',
    ]);
    const all = (await run(alice, ['apps:list'])).stdout;
    assert.match(all, /blog\nshop/);
    const info = await run(bob, ['apps:info', 'shop']);
    assert.match(info.stdout, /Owner:\s+bob/);
    assert.match(info.stdout, /Deploy branch:\s+main/);
    const again = await run(bob, ['apps:create', 'shop']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /app "shop" already exists/);
  });

  test('hostile names and options are refused in one line, nothing created', async () => {
    const before = await keyCount();
    for (const bad of [
      '../../etc',
      'app;id',
      '$(id)',
      '/etc/passwd',
      'a'.repeat(200),
      'UPPER',
      'аpp',
      'app\nid',
    ]) {
      const r = await run(bob, ['apps:create', bad]);
      assert.equal(r.code, 2, bad);
      assert.ok(oneLine(r.stderr), r.stderr);
      assert.match(r.stderr, /^berth: invalid app name/);
    }
    const rf = await run(bob, ['apps:create', '-rf']);
    assert.equal(rf.code, 2);
    assert.match(rf.stderr, /^berth: Unknown option '-r'; usage: berth apps:create APP/);
    assert.equal(await keyCount(), before);
  });

  test('an app you cannot see does not exist for you, by any command', async () => {
    for (const argv of [
      ['apps:info', 'shop'],
      ['apps:destroy', 'shop', '--force'],
      ['access:add', 'shop', 'dave'],
      ['git:set', 'shop', 'deploy-branch', 'x'],
    ]) {
      const r = await run(dave, argv);
      assert.equal(r.code, 1, argv.join(' '));
      assert.match(r.stderr, /^berth: app "shop" does not exist — /);
    }
  });
});

describe('access', () => {
  test('the owner adds a collaborator, who may read and push but not manage or destroy', async () => {
    const added = await run(bob, ['access:add', 'shop', 'carol']);
    assert.equal(added.code, 0, added.stderr);
    assert.equal((await run(carol, ['apps:info', 'shop'])).code, 0);
    assert.equal((await run(carol, ['git:set', 'shop', 'deploy-branch', 'prod'])).code, 0);
    assert.match(
      (await run(bob, ['git:report', 'shop', '--format', 'json'])).stdout,
      /"deployBranch":"prod"/,
    );
    const destroy = await run(carol, ['apps:destroy', 'shop', '--force']);
    assert.equal(destroy.code, 1);
    assert.equal(
      destroy.stderr,
      'berth: destroying app "shop" is for its owner and admins — ask an admin or the app\'s owner\n',
    );
    const manage = await run(carol, ['access:add', 'shop', 'dave']);
    assert.equal(manage.code, 1);
    assert.match(manage.stderr, /managing app "shop" is for its owner and admins/);
    const list = JSON.parse((await run(carol, ['access:list', 'shop', '--format', 'json'])).stdout);
    assert.deepEqual(list, [
      { user: 'bob', access: 'owner' },
      { user: 'carol', access: 'collaborator' },
    ]);
    assert.equal((await run(bob, ['access:add', 'shop', 'nobody'])).code, 1);
    assert.equal((await run(bob, ['access:remove', 'shop', 'carol'])).code, 0);
    assert.equal((await run(carol, ['apps:info', 'shop'])).code, 1);
  });
});

describe('ssh-keys (admins only)', () => {
  test('a non-admin is refused; an admin adds, lists and removes', async () => {
    const key = await makeKeyPair(await tempDir(), 'erin');
    const refused = await run(bob, ['ssh-keys:add', 'erin'], key.publicLine);
    assert.equal(refused.code, 1);
    assert.equal(
      refused.stderr,
      "berth: ssh-keys:add is for admins — ask an admin or the app's owner\n",
    );
    assert.equal(await store.users.get('erin'), undefined);
    const added = await run(alice, ['ssh-keys:add', 'erin'], key.publicLine);
    assert.equal(added.code, 0, added.stderr);
    assert.match(
      added.stdout,
      new RegExp(
        `added key ${key.fingerprint.replace(/[+/]/g, '\\$&')} .* for new user erin \\(user\\)`,
      ),
    );
    assert.match((await run(alice, ['ssh-keys:list'])).stdout, /^erin\s+SHA256:/m);
    assert.equal((await run(alice, ['ssh-keys:remove', key.fingerprint])).code, 0);
    assert.equal((await run(alice, ['ssh-keys:remove', 'erin'])).code, 0);
    assert.equal(await store.users.get('erin'), undefined);
  });
});

describe('apps:destroy', () => {
  test('asks for the name: no confirmation or a wrong one destroys nothing', async () => {
    await run(bob, ['apps:create', 'gone']);
    const closed = await run(bob, ['apps:destroy', 'gone']);
    assert.equal(closed.code, 2);
    assert.match(
      closed.stderr,
      /confirmation not given; nothing was destroyed \(use --confirm gone\)/,
    );
    const wrong = await run(bob, ['apps:destroy', 'gone'], 'gon\n');
    assert.equal(wrong.code, 2);
    assert.equal((await run(bob, ['apps:destroy', 'gone', '--confirm', 'other'])).code, 2);
    assert.ok(await store.apps.exists('gone'));
    const typed = await run(bob, ['apps:destroy', 'gone'], 'gone\n');
    assert.equal(typed.code, 0, typed.stderr);
    assert.equal(await store.apps.exists('gone'), false);
  });

  test('root on the server may run local commands; over SSH they are refused', async () => {
    const r = await run(alice, ['stack:rebuild']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /stack:rebuild is for root on the server/);
    const rootCreate = await run(ROOT, ['apps:create', 'rooted']);
    assert.equal(rootCreate.code, 2, 'no user "admin" exists in this store');
    assert.match(rootCreate.stderr, /pass --owner USER/);
    assert.equal((await run(ROOT, ['apps:create', 'rooted', '--owner', 'alice'])).code, 0);
  });
});

describe('apps:rename', () => {
  test('moves config, releases, collaborators and domains; nothing is left under the old name', async () => {
    await run(bob, ['apps:create', 'old-name']);
    await store.config.set('old-name', { SECRET: 'x' });
    await store.domains.add('old-name', 'old.example.com');
    await store.apps.addCollaborator('old-name', 'carol');
    await store.releases.create('old-name', { image: 'img:1', description: 'Deploy', by: 'bob' });
    const r = await run(bob, ['apps:rename', 'old-name', 'new-name']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /git remote set-url deploy ssh:\/\/berth@berth\.test:2222\/new-name/);
    assert.equal(await store.apps.exists('old-name'), false);
    assert.deepEqual(await redis.keys(`${prefix}app:old-name*`), []);
    const app = await store.apps.require('new-name');
    assert.deepEqual([app.owner, app.collaborators], ['bob', ['carol']]);
    assert.deepEqual(await store.config.get('new-name'), { SECRET: 'x' });
    assert.equal(await store.domains.owner('old.example.com'), 'new-name');
    assert.equal((await store.releases.get('new-name', 1))?.app, 'new-name');
    // The next release continues the numbering.
    assert.equal(
      (await store.releases.create('new-name', { description: 'Config', by: 'bob' })).version,
      2,
    );
  });

  test('refused onto a taken name, for a collaborator, and for a bad name; nothing changes', async () => {
    await run(bob, ['apps:create', 'taken']);
    const before = await keyCount();
    assert.match(
      (await run(bob, ['apps:rename', 'new-name', 'taken'])).stderr,
      /app "taken" already exists/,
    );
    assert.match(
      (await run(carol, ['apps:rename', 'new-name', 'mine'])).stderr,
      /managing app "new-name" is for its owner and admins/,
    );
    assert.equal((await run(bob, ['apps:rename', 'new-name', 'Bad;name'])).code, 2);
    assert.equal(await keyCount(), before);
  });
});

describe("the app's git repository follows the commands", () => {
  test('git:set moves HEAD, apps:rename moves the repository, apps:destroy removes it', async () => {
    const dataDir = await tempDir();
    const files = dataPaths(dataDir);
    const local = commandRunner(
      store,
      loadConfig({ BERTH_DOMAIN: 'berth.test', BERTH_DATA_DIR: dataDir }),
    );
    assert.equal((await local(bob, ['apps:create', 'repo-app'])).code, 0);
    await ensureRepo(files, 'repo-app');
    assert.equal((await local(bob, ['git:set', 'repo-app', 'deploy-branch', 'prod'])).code, 0);
    const head = () => readFile(path.join(files.repos, 'repo-app.git', 'HEAD'), 'utf8');
    assert.equal((await head()).trim(), 'ref: refs/heads/prod');
    assert.equal((await local(bob, ['apps:rename', 'repo-app', 'repo-two'])).code, 0);
    assert.deepEqual(
      (await readdir(files.repos)).filter((d) => !d.startsWith('.')),
      ['repo-two.git'],
    );
    assert.equal((await local(bob, ['apps:destroy', 'repo-two', '--force'])).code, 0);
    assert.deepEqual(
      (await readdir(files.repos)).filter((d) => !d.startsWith('.')),
      [],
    );
  });
});

describe('how an app is built: builder:*, builder-dockerfile:*, buildpacks:*', () => {
  test('settings are set, reported and reset; bad values are one line and change nothing', async () => {
    assert.equal((await run(bob, ['apps:create', 'built'])).code, 0);
    // Berth's fields, and Dokku's selected key ('' when the builder is detected).
    const report = async () => {
      const { selected, dockerfilePath, buildArgs, buildpacks, detected } = JSON.parse(
        (await run(bob, ['builder:report', 'built', '--format', 'json'])).stdout,
      );
      return { selected, dockerfilePath, buildArgs, buildpacks, detected };
    };
    assert.deepEqual(await report(), {
      selected: '',
      dockerfilePath: 'Dockerfile',
      buildArgs: [],
      buildpacks: [],
      // Dokku's key wins over Berth's field of that name: the last build's builder.
      detected: '',
    });
    for (const argv of [
      ['builder:set', 'built', 'selected', 'buildpacks'],
      ['builder-dockerfile:set', 'built', 'dockerfile-path', 'docker/Dockerfile.web'],
      ['builder-dockerfile:set', 'built', 'build-args', 'NPM_TOKEN,SENTRY_DSN', 'NPM_TOKEN'],
      // Heroku's names for Berth's buildpacks, as a Heroku app's settings have them.
      [
        'buildpacks:set',
        'built',
        'heroku/python',
        'https://github.com/heroku/heroku-buildpack-nodejs.git',
      ],
      ['buildpacks:add', 'built', 'static', '--index', '1'],
      ['buildpacks:remove', 'built', 'python'],
    ]) {
      const r = await run(bob, argv);
      assert.equal(r.code, 0, `${argv.join(' ')}: ${r.stderr}`);
    }
    assert.deepEqual(await report(), {
      selected: 'buildpacks',
      dockerfilePath: 'docker/Dockerfile.web',
      buildArgs: ['NPM_TOKEN', 'SENTRY_DSN'],
      buildpacks: ['static', 'node'],
      // Dokku's key wins over Berth's field of that name: the last build's builder.
      detected: '',
    });
    const text = (await run(bob, ['builder:report', 'built'])).stdout;
    assert.match(text, /^=====> built builder information$/m);
    assert.match(text, /Builder pinned buildpacks: +static, node$/m);
    assert.match(text, /Builder last build: +none yet$/m);

    const before = await report();
    for (const [argv, expected] of [
      [['builder:set', 'built', 'selected', 'heroku'], /unknown builder "heroku"/],
      [['builder:set', 'built', 'flavour', 'x'], /builder:set has no setting "flavour"/],
      [['builder-dockerfile:set', 'built', 'dockerfile-path', '../../etc/passwd'], /invalid path/],
      [['builder-dockerfile:set', 'built', 'dockerfile-path', '/abs'], /invalid path/],
      [['builder-dockerfile:set', 'built', 'build-args', 'BERTH_SECRET'], /reserved for Berth/],
      [['builder-dockerfile:set', 'built', 'build-args', 'A-B'], /invalid config key/],
      [
        // A URL into the server's network or files: never fetched for a tenant.
        ['buildpacks:set', 'built', 'https://10.0.0.1/owner/buildpack.git'],
        /invalid buildpack URL .*10\.0\.0\.1 is an address of this server or its networks/,
      ],
      [
        ['buildpacks:add', 'built', 'file:///etc/passwd'],
        /invalid buildpack URL .*use an https:\/\/ URL/,
      ],
      [
        ['buildpacks:set', 'built', 'cobol'],
        /there is no buildpack cobol; Berth ships ruby, node, python, php, go, static, procfile/,
      ],
      [['buildpacks:set', 'built', 'node', 'node'], /node is listed twice/],
      [['buildpacks:add', 'built', 'node'], /node is pinned already/],
      [['buildpacks:remove', 'built', 'python'], /python is not pinned/],
      [['buildpacks:add', 'built', 'python', '--index', '0'], /--index must be a position from 1/],
    ] as const) {
      const r = await run(bob, [...argv]);
      assert.notEqual(r.code, 0, argv.join(' '));
      assert.ok(oneLine(r.stderr), r.stderr);
      assert.match(r.stderr, expected);
    }
    assert.deepEqual(await report(), before, 'nothing changed');

    for (const argv of [
      ['builder:set', 'built', 'selected'],
      ['builder-dockerfile:set', 'built', 'dockerfile-path'],
      ['builder-dockerfile:set', 'built', 'build-args'],
      ['buildpacks:clear', 'built'],
    ]) {
      assert.equal((await run(bob, argv)).code, 0, argv.join(' '));
    }
    assert.deepEqual(await report(), {
      selected: '',
      dockerfilePath: 'Dockerfile',
      buildArgs: [],
      buildpacks: [],
      // Dokku's key wins over Berth's field of that name: the last build's builder.
      detected: '',
    });
    const list = JSON.parse(
      (await run(bob, ['buildpacks:list', 'built', '--format', 'json'])).stdout,
    );
    assert.deepEqual(list, {
      pinned: [],
      available: ['ruby', 'node', 'python', 'php', 'go', 'static', 'procfile'],
    });
    // Someone without access: the app does not exist for them.
    const r = await run(dave, ['builder:set', 'built', 'selected', 'image']);
    assert.match(r.stderr, /app "built" does not exist/);
  });
});

describe('config vars: config:set|unset|get|show|keys', () => {
  test('set, read in every form, unset; values never echoed by set', async () => {
    assert.equal((await run(bob, ['apps:create', 'conf'])).code, 0);
    const set = await run(bob, [
      'config:set',
      'conf',
      'DATABASE_URL=postgres://u:p@db/x?a=b',
      'GREETING=hello world',
      'EMPTY=',
    ]);
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /^-----> Set DATABASE_URL, EMPTY, GREETING for conf$/m);
    assert.doesNotMatch(set.stdout, /postgres|hello/, 'values are not printed');
    const multi = Buffer.from("line one\nit's two").toString('base64');
    assert.equal((await run(bob, ['config:set', 'conf', `MULTI=${multi}`, '--encoded'])).code, 0);

    assert.equal(
      (await run(carol, ['config:get', 'conf', 'GREETING'])).code,
      1,
      'carol has no access',
    );
    assert.equal((await run(bob, ['config:get', 'conf', 'GREETING'])).stdout, 'hello world\n');
    const missing = await run(bob, ['config:get', 'conf', 'NOPE']);
    // As Dokku: silent, exit 1 (scripts test it with ||).
    assert.deepEqual(missing, { code: 1, stdout: '', stderr: '' });
    assert.deepEqual(
      JSON.parse((await run(bob, ['config:show', 'conf', '--format', 'json'])).stdout),
      {
        DATABASE_URL: 'postgres://u:p@db/x?a=b',
        EMPTY: '',
        GREETING: 'hello world',
        MULTI: "line one\nit's two",
      },
    );
    const text = (await run(bob, ['config:show', 'conf'])).stdout;
    assert.match(text, /^=====> conf config vars$/m);
    assert.match(text, /^ {7}MULTI: +line one\\nit's two$/m);
    const shell = (await run(bob, ['config:show', 'conf', '--shell'])).stdout;
    assert.match(shell, /^MULTI='line one\nit'\\''s two'$/m);
    assert.deepEqual(
      JSON.parse((await run(bob, ['config:keys', 'conf', '--format', 'json'])).stdout),
      ['DATABASE_URL', 'EMPTY', 'GREETING', 'MULTI'],
    );

    const unset = await run(bob, ['config:unset', 'conf', 'EMPTY', 'NEVER_SET']);
    assert.equal(unset.code, 0, unset.stderr);
    assert.match(unset.stdout, /^-----> Unset EMPTY for conf$/m);
    assert.equal(
      (await run(bob, ['config:keys', 'conf'])).stdout,
      'DATABASE_URL\nGREETING\nMULTI\n',
    );
  });

  test('bad keys and values are one line and change nothing', async () => {
    assert.equal((await run(bob, ['apps:create', 'conf2'])).code, 0);
    assert.equal((await run(bob, ['config:set', 'conf2', 'KEEP=1'])).code, 0);
    const nul = Buffer.from('a\0b').toString('base64');
    for (const [argv, expected] of [
      [['config:set', 'conf2', 'BERTH_X=1'], /reserved for Berth/],
      [['config:set', 'conf2', '1BAD=1'], /invalid config key "1BAD"/],
      [['config:set', 'conf2', 'NOEQUALS'], /"NOEQUALS" is not KEY=VALUE/],
      [['config:set', 'conf2', '=x'], /is not KEY=VALUE/],
      [['config:set', 'conf2', 'OK=1', 'BAD-KEY=2'], /invalid config key "BAD-KEY"/],
      [['config:set', 'conf2', `NUL=${nul}`, '--encoded'], /NUL byte/],
      [['config:set', 'conf2', 'X=not base64!', '--encoded'], /the value of X is not base64/],
      [
        ['config:set', 'conf2'],
        /missing argument; usage: berth config:set APP\|--global KEY=VALUE/,
      ],
      [['config:unset', 'conf2', 'a;b'], /invalid config key/],
      [['config:get', 'conf2', '$(id)'], /invalid config key/],
    ] as const) {
      const r = await run(bob, [...argv]);
      assert.notEqual(r.code, 0, argv.join(' '));
      assert.ok(oneLine(r.stderr), r.stderr);
      assert.match(r.stderr, expected);
      assert.doesNotMatch(r.stderr, /a\0b/);
    }
    assert.deepEqual(
      JSON.parse((await run(bob, ['config:show', 'conf2', '--format', 'json'])).stdout),
      { KEEP: '1' },
    );
  });
});

describe('git:from-image', () => {
  test('a bad image reference is one line; with no builder running it says so, and nothing is queued', async () => {
    assert.equal((await run(bob, ['apps:create', 'prebuilt'])).code, 0);
    const bad = await run(bob, ['git:from-image', 'prebuilt', '--rm']);
    assert.notEqual(bad.code, 0);
    assert.ok(oneLine(bad.stderr), bad.stderr);
    const bad2 = await run(bob, ['git:from-image', 'prebuilt', 'Team/API:1']);
    assert.match(bad2.stderr, /^berth: invalid image "Team\/API:1": use an image reference/);
    const none = await run(bob, ['git:from-image', 'prebuilt', 'team/api:1.4']);
    assert.equal(none.code, 1);
    assert.equal(
      none.stderr,
      'berth: no builder is running, so nothing can be built or deployed — check that the builder service runs (see the log of npm start), then try again\n',
    );
    assert.equal(await redis.zcard(appBuildsKey(prefix, 'prebuilt')), 0);
  });
});

describe('checks:*', () => {
  test('disable, skip and enable by type or for all; bad types refused', async () => {
    assert.equal((await run(bob, ['apps:create', 'checked'])).code, 0);
    const report = async () => {
      const r = JSON.parse(
        (await run(bob, ['checks:report', 'checked', '--format', 'json'])).stdout,
      );
      return { checksDisabled: r.checksDisabled, checksSkipped: r.checksSkipped };
    };
    assert.deepEqual(await report(), { checksDisabled: [], checksSkipped: [] });
    assert.equal((await run(bob, ['checks:skip', 'checked', 'worker,web'])).code, 0);
    assert.equal((await run(bob, ['checks:disable', 'checked', 'clock'])).code, 0);
    assert.deepEqual(await report(), {
      checksDisabled: ['clock'],
      checksSkipped: ['web', 'worker'],
    });
    assert.equal((await run(bob, ['checks:enable', 'checked', 'web'])).code, 0);
    assert.deepEqual(await report(), { checksDisabled: ['clock'], checksSkipped: ['worker'] });
    assert.equal((await run(bob, ['checks:skip', 'checked'])).code, 0);
    assert.deepEqual(await report(), { checksDisabled: ['clock'], checksSkipped: ['_all_'] });
    const bad = await run(bob, ['checks:skip', 'checked', 'Web!']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /invalid process type "Web!"/);
    assert.equal((await run(bob, ['checks:enable', 'checked'])).code, 0);
    assert.deepEqual(await report(), { checksDisabled: [], checksSkipped: [] });
    assert.match(
      (await run(bob, ['checks:report', 'checked'])).stdout,
      /Checks disabled list: +none$/m,
    );
  });

  test("checks:set wait-to-retire and default-wait; checks:report's flags print one value, as Dokku's", async () => {
    assert.equal((await run(bob, ['apps:create', 'retiring'])).code, 0);
    const flag = async (f: string) =>
      (await run(bob, ['checks:report', 'retiring', `--checks-${f}`])).stdout;
    assert.equal(await flag('wait-to-retire'), '\n');
    assert.equal(await flag('computed-wait-to-retire'), '30\n');
    assert.equal(await flag('global-wait-to-retire'), '30\n');
    assert.equal(await flag('computed-default-wait'), '10\n');
    const set = await run(bob, ['checks:set', 'retiring', 'wait-to-retire', '60']);
    assert.equal(set.code, 0, set.stderr);
    assert.equal(set.stdout, '-----> retiring: wait-to-retire 60 s, from the next rollout\n');
    assert.equal(await flag('wait-to-retire'), '60\n');
    assert.equal(await flag('computed-wait-to-retire'), '60\n');
    assert.equal((await run(bob, ['checks:set', 'retiring', 'default-wait', '3'])).code, 0);
    assert.equal(await flag('computed-default-wait'), '3\n');
    assert.equal((await run(bob, ['checks:skip', 'retiring', 'worker'])).code, 0);
    assert.equal(await flag('skipped-list'), 'worker\n');
    assert.equal(await flag('disabled-list'), 'none\n');
    const text = (await run(bob, ['checks:report', 'retiring'])).stdout;
    assert.match(text, /^ +Checks computed wait to retire: +60$/m);
    assert.match(text, /^ +Checks global wait to retire: +30$/m);
    // Bad values and keys: one line, nothing changed.
    for (const [args, message] of [
      [['wait-to-retire', 'soon'], /invalid wait-to-retire "soon": whole seconds from 0 to 86400/],
      [['default-wait', '601'], /invalid default-wait "601": whole seconds from 0 to 600/],
      [['attempts', '5'], /checks:set has no setting "attempts".*wait-to-retire, default-wait/],
    ] as const) {
      const r = await run(bob, ['checks:set', 'retiring', ...args]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
    }
    assert.equal(await flag('computed-wait-to-retire'), '60\n');
    const back = await run(bob, ['checks:set', 'retiring', 'wait-to-retire']);
    assert.match(back.stdout, /wait-to-retire 30 s \(the default\)/);
    assert.equal(await flag('wait-to-retire'), '\n');
  });
});

describe('resource:limit-clear', () => {
  test('with no type it clears every limit of the app, each type’s own too', async () => {
    assert.equal((await run(bob, ['apps:create', 'limited'])).code, 0);
    const report = async () =>
      JSON.parse((await run(bob, ['resource:report', 'limited', '--format', 'json'])).stdout);
    for (const argv of [
      ['--memory', '64m'],
      ['--memory', '128m', 'web'],
      ['--pids', '64', 'worker'],
    ]) {
      assert.equal((await run(bob, ['resource:limit', 'limited', ...argv])).code, 0);
    }
    assert.deepEqual(Object.keys(await report()).sort(), ['_all_', 'web', 'worker']);
    assert.equal((await run(bob, ['resource:limit-clear', 'limited', 'web'])).code, 0);
    assert.deepEqual(Object.keys(await report()).sort(), ['_all_', 'worker']);
    const cleared = await run(bob, ['resource:limit-clear', 'limited']);
    assert.equal(cleared.code, 0, cleared.stderr);
    assert.match(cleared.stdout, /Cleared every limit of limited \(every type, worker\)/);
    assert.deepEqual(await report(), {});
    const again = await run(bob, ['resource:limit-clear', 'limited']);
    assert.match(again.stdout, /had no limits of its own; nothing changed/);
  });
});
