// Dokku's command grammar as a Dokku user's scripts use it (issue 20),
// through the one dispatcher the SSH server and the local berth share:
// global flags before the command, one-value report flags, Dokku's JSON,
// the messages and exit codes scripts match on, and the new commands.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { remoteArgv } from '../../cli/remote.ts';
import { isBerthError } from '../../services/core/errors.ts';
import { Store } from '../../services/core/store/index.ts';
import { enqueueBuild } from '../../services/platform/build/queue.ts';
import { createBuildQueue } from '../../services/platform/build/queue-open.ts';
import { makeCert } from '../harness/certs.ts';
import { commandRunner, userActor } from '../harness/commands.ts';
import { prefixSnapshot, redisClient, testPrefix } from '../harness/redis.ts';
import { tempDir } from '../harness/tmp.ts';

const prefix = testPrefix();
const redis = await redisClient(prefix);
const store = new Store(redis, prefix);
const run = commandRunner(store);
const ada = userActor('ada', 'admin');
const bob = userActor('bob');
const eve = userActor('eve');
for (const u of [ada, bob, eve]) if (u.kind === 'user') await store.users.create(u.user, u.role);
const oneLine = (s: string) => s.trim().split('\n').length === 1;

/** Runs argv and checks it was refused in one line with exit 2, and that Redis did not change. */
async function refused(argv: string[], pattern: RegExp, actor = bob) {
  const before = await prefixSnapshot(redis, prefix);
  const r = await run(actor, argv);
  assert.equal(r.code, 2, `${argv.join(' ')}: ${r.stderr}`);
  assert.ok(oneLine(r.stderr), r.stderr);
  assert.match(r.stderr, pattern);
  assert.equal(await prefixSnapshot(redis, prefix), before, `${argv.join(' ')} changed nothing`);
}

describe('global flags before the command', () => {
  test('--app APP: the command then takes no APP argument', async () => {
    assert.equal((await run(bob, ['--app', 'flagged', 'apps:create'])).code, 0);
    const set = await run(bob, ['--app', 'flagged', 'config:set', '--no-restart', 'A=1']);
    assert.equal(set.code, 0, set.stderr);
    assert.equal((await run(bob, ['--app=flagged', 'config:get', 'A'])).stdout, '1\n');
    assert.equal(
      (await run(bob, ['--app', 'flagged', 'git:report', '--git-deploy-branch'])).stdout,
      'main\n',
    );
  });

  test('--app on a command about no app, or without a name: one line, nothing changed', async () => {
    await refused(['--app', 'flagged', 'version'], /^berth: --app: version is not about an app/);
    await refused(['--app'], /^berth: --app needs an app name/);
    await refused(['--app', '--quiet', 'apps:list'], /^berth: --app needs an app name/);
    await refused(['--app', '../x', 'config:get', 'A'], /^berth: invalid app name/);
  });

  test('--quiet drops the header lines, as Dokku prints `dokku --quiet apps:list`', async () => {
    const loud = await run(bob, ['apps:list']);
    assert.match(loud.stdout, /^=====> My Apps\n/);
    const quiet = await run(bob, ['--quiet', 'apps:list']);
    assert.equal(quiet.code, 0);
    assert.equal(quiet.stdout, 'flagged\n');
    const set = await run(bob, ['--quiet', 'config:set', 'flagged', '--no-restart', 'B=2']);
    assert.doesNotMatch(set.stdout, /----->/);
    assert.match(set.stdout, /Not restarted/);
  });

  test('--force is the command’s --force; -v and --version print the version', async () => {
    assert.equal((await run(bob, ['apps:create', 'forced'])).code, 0);
    const destroyed = await run(bob, ['--force', '--app', 'forced', 'apps:destroy']);
    assert.equal(destroyed.code, 0, destroyed.stderr);
    assert.equal(await store.apps.exists('forced'), false);
    for (const v of ['-v', '--version'])
      assert.match((await run(eve, [v])).stdout, /^berth \d+\.\d+\.\d+\n$/);
  });

  test('--trace says on stderr what Berth was asked, as whom, and the exit code', async () => {
    const r = await run(bob, ['--trace', 'config:get', 'flagged', 'A']);
    assert.equal(r.stdout, '1\n');
    assert.equal(r.stderr, '+ berth config:get flagged A (as bob)\n+ exit 0\n');
    const bad = await run(bob, ['--trace', 'apps:explode']);
    assert.match(
      bad.stderr,
      /^\+ berth apps:explode \(as bob\)\nberth: unknown command.*\n\+ exit 2\n$/,
    );
  });

  test('the laptop client: the app from the git remote, or --app before the command', () => {
    const remote = { user: 'berth', host: 'h', port: undefined, app: 'api' };
    assert.deepEqual(remoteArgv(['--quiet', 'config:get', 'A'], remote), [
      '--quiet',
      'config:get',
      'api',
      'A',
    ]);
    assert.deepEqual(remoteArgv(['--app', 'web', '--trace', 'ps:report'], remote), [
      '--trace',
      'ps:report',
      'web',
    ]);
  });
});

describe('reports: one mechanism, Dokku keys', () => {
  test('a report flag prints the value alone, for every report', async () => {
    assert.equal((await run(bob, ['apps:create', 'rep'])).code, 0);
    await run(bob, ['checks:disable', 'rep', 'worker']);
    const one = async (argv: string[]) => {
      const r = await run(bob, argv);
      assert.equal(r.code, 0, `${argv.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    assert.equal(await one(['checks:report', 'rep', '--checks-disabled-list']), 'worker\n');
    assert.equal(await one(['git:report', 'rep', '--git-deploy-branch']), 'main\n');
    // Dokku 0.38: the raw value (none set), and the one in effect.
    assert.equal(await one(['proxy:report', 'rep', '--proxy-type']), '\n');
    assert.equal(await one(['proxy:report', 'rep', '--proxy-computed-type']), 'berth\n');
    assert.equal(await one(['builder:report', 'rep', '--builder-selected']), '\n');
    await run(bob, ['builder:set', 'rep', 'selected', 'dockerfile']);
    assert.equal(await one(['builder:report', 'rep', '--builder-selected']), 'dockerfile\n');
    assert.equal(await one(['buildpacks:report', 'rep', '--buildpacks-list']), '\n');
    assert.equal(await one(['apps:report', 'rep', '--app-locked']), 'false\n');
    assert.match(await one(['apps:report', 'rep', '--app-created-at']), /^\d{10}\n$/);
    assert.equal(await one(['storage:report', 'rep', '--storage-build-mounts']), '\n');
    assert.equal(await one(['ps:report', 'rep', '--deployed']), 'false\n');
    assert.equal(await one(['ps:report', 'rep', '--ps-can-scale']), 'true\n');
    assert.equal(await one(['network:report', 'rep', '--network-attach-post-deploy']), '\n');
    // The text report shows the same labels the flags come from.
    assert.match(await one(['git:report', 'rep']), /^ {7}Git deploy branch: +main$/m);
  });

  test('--format json: an object keyed by Dokku’s report keys (the flag without --NAMESPACE-)', async () => {
    const data = JSON.parse((await run(bob, ['checks:report', 'rep', '--format', 'json'])).stdout);
    assert.equal(data['disabled-list'], 'worker');
    assert.equal(data['computed-wait-to-retire'], '30');
    const git = JSON.parse((await run(bob, ['git:report', 'rep', '--format', 'json'])).stdout);
    assert.equal(git['deploy-branch'], 'main');
    const apps = JSON.parse((await run(bob, ['apps:report', 'rep', '--format', 'json'])).stdout);
    assert.equal(apps.locked, 'false');
  });

  test('an unknown report flag, or two: one line, exit 2, nothing changed', async () => {
    await refused(
      ['checks:report', 'rep', '--checks-nope'],
      /^berth: Invalid flag passed, valid flags: --checks-computed-default-wait, /,
    );
    await refused(
      ['git:report', 'rep', '--git-deploy-branch', '--git-url'],
      /^berth: give one report flag, not --git-deploy-branch and --git-url/,
    );
    await refused(
      ['network:report', 'rep', '--network-subnet', '--format', 'json'],
      /^berth: --format flag cannot be specified when specifying an info flag/,
    );
    // A flag is not taken as one on commands that are no reports.
    await refused(['config:get', 'rep', 'A', '--git-url'], /^berth: Unknown option '--git-url'/);
  });
});

describe('apps', () => {
  test("apps:list: Dokku's JSON (names) and its words when there are none", async () => {
    const none = await run(eve, ['apps:list']);
    assert.equal(none.code, 0);
    assert.equal(none.stdout, '=====> My Apps\n');
    assert.equal(none.stderr, " !     You haven't deployed any applications yet\n");
    assert.equal((await run(eve, ['apps:list', '--format', 'json'])).stdout, '[]\n');
    assert.deepEqual(JSON.parse((await run(bob, ['apps:list', '--format', 'json'])).stdout), [
      'flagged',
      'rep',
    ]);
  });

  test('apps:exists: exit 0 for an app you may see, 1 otherwise (another user’s too)', async () => {
    assert.equal((await run(bob, ['apps:exists', 'rep'])).code, 0);
    const missing = await run(bob, ['apps:exists', 'nothing-here']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /does not exist/);
    assert.equal((await run(eve, ['apps:exists', 'rep'])).code, 1);
  });

  test('apps:lock refuses deploys in one line until apps:unlock; apps:locked for scripts', async () => {
    assert.equal((await run(bob, ['apps:locked', 'rep'])).code, 1);
    const lock = await run(bob, ['apps:lock', 'rep']);
    assert.equal(lock.stdout, '-----> Deploy lock created\n');
    assert.equal((await run(bob, ['apps:locked', 'rep'])).code, 0);
    assert.equal((await run(bob, ['apps:report', 'rep', '--app-locked'])).stdout, 'true\n');
    const deploy = await run(bob, ['git:from-image', 'rep', 'nginx:alpine']);
    assert.equal(deploy.code, 1);
    assert.equal(
      deploy.stderr,
      'berth: app "rep" is locked: pushes and deploys are refused — unlock it with apps:unlock rep\n',
    );
    // A push's build goes through the queue, which refuses it too.
    const queue = createBuildQueue(redis, prefix);
    after(() => queue.close());
    await assert.rejects(
      enqueueBuild(queue, {
        app: 'rep',
        rev: 'a'.repeat(40),
        ref: 'refs/heads/main',
        pusher: 'bob',
      }),
      (e) => isBerthError(e) && e.code === 'BERTH_E_APP_LOCKED',
    );
    assert.equal((await run(eve, ['apps:unlock', 'rep'])).code, 1, 'not eve’s app');
    assert.equal((await run(bob, ['apps:unlock', 'rep'])).stdout, '-----> Deploy lock removed\n');
    assert.equal((await run(bob, ['apps:locked', 'rep'])).code, 1);
  });
});

describe('config', () => {
  test('config:get of an unset key: nothing printed, exit 1', async () => {
    assert.deepEqual(await run(bob, ['config:get', 'rep', 'UNSET']), {
      code: 1,
      stdout: '',
      stderr: '',
    });
  });

  test('config:export in each of Dokku’s formats', async () => {
    await run(bob, ['config:set', 'rep', '--no-restart', "Q=it's", 'N=42', 'S=a "b" $c']);
    const exp = async (format?: string) =>
      (
        await run(bob, [
          'config:export',
          'rep',
          ...(format === undefined ? [] : ['--format', format]),
        ])
      ).stdout;
    assert.equal(await exp(), "export N='42'\nexport Q='it'\\''s'\nexport S='a \"b\" $c'\n");
    assert.equal(await exp('shell'), "N='42' Q='it'\\''s' S='a \"b\" $c'\n");
    assert.equal(
      await exp('docker-args'),
      "--env=N='42' --env=Q='it'\\''s' --env=S='a \"b\" $c'\n",
    );
    assert.equal(await exp('envfile'), 'N=42\nQ="it\'s"\nS="a \\"b\\" \\$c"\n');
    assert.deepEqual(JSON.parse(await exp('json')), { N: '42', Q: "it's", S: 'a "b" $c' });
    await refused(['config:export', 'rep', '--format', 'yaml'], /^berth: --format must be one of/);
  });

  test('config:import reads an envfile or JSON from stdin, all or nothing; envfile round-trips', async () => {
    const envfile = (await run(bob, ['config:export', 'rep', '--format', 'envfile'])).stdout;
    assert.equal((await run(bob, ['config:clear', 'rep', '--no-restart'])).code, 0);
    assert.equal((await run(bob, ['config:keys', 'rep'])).stdout, '');
    const imported = await run(bob, ['config:import', 'rep', '--no-restart'], envfile);
    assert.equal(imported.code, 0, imported.stderr);
    assert.deepEqual(
      JSON.parse((await run(bob, ['config:show', 'rep', '--format', 'json'])).stdout),
      { N: '42', Q: "it's", S: 'a "b" $c' },
    );
    const fromJson = await run(
      bob,
      ['config:import', 'rep', '--format', 'json', '--replace', '--no-restart'],
      '{"ONLY": "x", "N": 7}',
    );
    assert.equal(fromJson.code, 0, fromJson.stderr);
    assert.deepEqual(
      JSON.parse((await run(bob, ['config:show', 'rep', '--format', 'json'])).stdout),
      { N: '7', ONLY: 'x' },
    );
  });

  test('hostile imports are refused in one line and set nothing', async () => {
    const refusedWith = async (stdin: string, pattern: RegExp, extra: string[] = []) => {
      const before = await prefixSnapshot(redis, prefix);
      const r = await run(bob, ['config:import', 'rep', '--no-restart', ...extra], stdin);
      assert.equal(r.code, 2, r.stderr);
      assert.ok(oneLine(r.stderr), r.stderr);
      assert.match(r.stderr, pattern);
      assert.equal(await prefixSnapshot(redis, prefix), before);
    };
    await refusedWith('GOOD=1\nthis is not an assignment\n', /^berth: line 2 is not KEY=VALUE/);
    await refusedWith('GOOD=1\nBAD KEY=2\n', /line 2 is not KEY=VALUE/);
    await refusedWith('GOOD=1\nBERTH_X=2\n', /BERTH_X/);
    await refusedWith('A="unclosed\n', /line 1: a " is not closed/);
    await refusedWith('', /No config vars to set/);
    await refusedWith('[1,2]', /the JSON must be an object/, ['--format', 'json']);
    await refusedWith('{"A": {"b": 1}}', /the value of A must be a string/, ['--format', 'json']);
    await refusedWith(`A=${'x'.repeat(1024 * 1024)}`, /larger than 1 MB/);
    await refusedWith('A=1', /--format must be one of envfile, json/, ['--format', 'yaml']);
    await refused(
      ['config:import', 'rep', '/etc/shadow'],
      /^berth: Berth reads the file from stdin, not from the server/,
    );
  });
});

describe('urls, help forms', () => {
  test('urls lists each host as a URL; url the first', async () => {
    await run(bob, ['domains:add', 'rep', 'www.example.test']);
    assert.equal(
      (await run(bob, ['urls', 'rep'])).stdout,
      'http://rep.berth.test\nhttp://www.example.test\n',
    );
    assert.equal((await run(bob, ['url', 'rep'])).stdout, 'http://rep.berth.test\n');
    assert.equal((await run(eve, ['url', 'rep'])).code, 1);
    assert.equal(
      (await run(bob, ['domains:report', 'rep', '--domains-app-vhosts'])).stdout,
      'rep.berth.test www.example.test\n',
    );
    await refused(
      ['domains:report', 'rep', '--domains-nope'],
      /^berth: Invalid flag passed, valid flags: --domains-app-enabled, /,
    );
  });

  test('NAMESPACE and NAMESPACE:help print the namespace’s help', async () => {
    const help = (await run(bob, ['help', 'config'])).stdout;
    assert.match(help, /config:export APP/);
    assert.equal((await run(bob, ['config'])).stdout, help);
    assert.equal((await run(bob, ['config:help'])).stdout, help);
    const r = await run(bob, ['nothing:help']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command "nothing:help"/);
  });
});

describe('issue 20 semantics', () => {
  test('app names as Dokku allows them: a leading digit, up to 63; not what DNS cannot carry', async () => {
    for (const name of ['2048-game', '9lives', 'x'.repeat(63)]) {
      const r = await run(bob, ['apps:create', name]);
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
      assert.equal((await run(bob, ['url', name])).stdout, `http://${name}.berth.test\n`);
      assert.equal((await run(bob, ['apps:destroy', name, '--force'])).code, 0);
    }
    await refused(['apps:create', '1234'], /read it as an IP address/);
    await refused(['apps:create', '0x1f'], /read it as an IP address/);
    await refused(['apps:create', 'my.app'], /^berth: invalid app name "my\.app"/);
    await refused(['apps:create', 'x'.repeat(64)], /at most 63 characters/);
    await refused(['apps:create', '-1app'], /Unknown option '-1'/);
    // Wildcards are served (test/integration/wildcard-domains.test.ts); a whole TLD is not one.
    await refused(['domains:add', 'rep', '*.com'], /never a whole top-level domain/);
  });

  test('ps:scale before the first deploy records the formation; a hostile count changes nothing', async () => {
    assert.equal((await run(bob, ['apps:create', 'scaled'])).code, 0);
    const r = await run(bob, ['ps:scale', 'scaled', 'web=2', 'worker=1']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      '-----> Recorded web=2 worker=1 for scaled: its first deploy starts these\n',
    );
    assert.deepEqual((await store.apps.deploySettings('scaled')).firstFormation, {
      web: 2,
      worker: 1,
    });
    assert.match((await run(bob, ['ps:scale', 'scaled'])).stdout, /web\s+2\n.*worker\s+1/s);
    await refused(['ps:scale', 'scaled', 'web=99999999'], /is not TYPE=COUNT/);
    await refused(['ps:scale', 'scaled', '../x=1'], /invalid process type/);
    await refused(['ps:scale', 'scaled', 'release=1'], /release runs once/);
    assert.equal((await run(eve, ['ps:scale', 'scaled', 'web=5'])).code, 1, 'not eve’s app');
  });

  test('letsencrypt:set APP email is accepted and changes nothing; other keys say what Berth has', async () => {
    const before = await prefixSnapshot(redis, prefix);
    const r = await run(bob, ['letsencrypt:set', 'rep', 'email', 'ops@example.com']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Berth's ACME account is the platform's \(BERTH_ACME_EMAIL/);
    assert.equal(await prefixSnapshot(redis, prefix), before);
    await refused(
      ['letsencrypt:set', 'rep', 'email', 'ops@example.com\n-----> fake'],
      /invalid e-mail address/,
    );
    await refused(['letsencrypt:set', 'rep', 'server', 'staging'], /BERTH_ACME_DIRECTORY_URL/);
    await refused(['letsencrypt:set', 'rep', 'dns-provider', 'route53'], /HTTP-01 only/);
    await refused(['letsencrypt:set', 'rep', '$(id)', 'x'], /unknown key/);
    assert.equal(
      (await run(eve, ['letsencrypt:set', 'rep', 'email', 'e@example.com'])).code,
      1,
      'not eve’s app',
    );
  });
});

describe('certs:add APP CRT KEY: files on the server', () => {
  test('root and admins add the pair from two files; a user is refused and nothing changes', async () => {
    assert.equal((await run(bob, ['apps:create', 'filed'])).code, 0);
    await run(bob, ['domains:add', 'filed', 'filed.example.test']);
    const dir = await tempDir('berth-certs-files');
    const pair = await makeCert(['filed.example.test']);
    await writeFile(path.join(dir, 'server.crt'), pair.cert);
    await writeFile(path.join(dir, 'server.key'), pair.key, { mode: 0o600 });
    const crt = path.join(dir, 'server.crt');
    const key = path.join(dir, 'server.key');
    const before = await prefixSnapshot(redis, prefix);
    const denied = await run(bob, ['certs:add', 'filed', crt, key]);
    assert.equal(denied.code, 1);
    assert.match(
      denied.stderr,
      /^berth: certs:add APP CRT_FILE KEY_FILE \(files on the server\) is for admins/,
    );
    assert.equal(await prefixSnapshot(redis, prefix), before);
    assert.equal(
      (await run(bob, ['certs:add', 'filed'], `${pair.cert}${pair.key}`)).code,
      0,
      'stdin stays open to the owner',
    );
    const r = await run(ada, ['certs:add', 'filed', crt, key]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^-----> Added the certificate for filed\.example\.test to filed\n/);
    assert.equal((await store.certs.get('filed.example.test'))?.serial, pair.serial);
  });

  test('hostile paths: relative, .., a link, a FIFO, a directory, one file only', async () => {
    const dir = await tempDir('berth-certs-hostile');
    const pair = await makeCert(['filed.example.test']);
    const crt = path.join(dir, 'server.crt');
    await writeFile(crt, pair.cert);
    await symlink('/etc/shadow', path.join(dir, 'link.key'));
    await mkdir(path.join(dir, 'sub'));
    const fifo = path.join(dir, 'fifo.key');
    execFileSync('mkfifo', [fifo]);
    const add = (k: string) => ['certs:add', 'filed', crt, k];
    await refused(
      add('server.key'),
      /invalid certificate file "server\.key": use an absolute path/,
      ada,
    );
    await refused(add(`${dir}/../etc/shadow`), /no "\." or "\.\." in the path/, ada);
    await refused(
      add(path.join(dir, 'link.key')),
      /cannot be opened \(ELOOP; a link is not followed\)/,
      ada,
    );
    await refused(add(path.join(dir, 'sub')), /is not a regular file/, ada);
    await refused(add(fifo), /is not a regular file/, ada);
    await refused(['certs:add', 'filed', crt], /name both files/, ada);
    await refused(add('/nonexistent/x.key'), /cannot be opened \(ENOENT/, ada);
  });
});

describe('nginx:*, proxy:build-config, domains:*-global, domains:reset', () => {
  test('nginx:set maps to the router settings; nginx:report reads them back', async () => {
    const ok = async (argv: string[]) => {
      const r = await run(bob, argv);
      assert.equal(r.code, 0, `${argv.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    assert.match(
      await ok(['nginx:set', 'rep', 'client-max-body-size', '20m']),
      /request bodies up to 20m \(proxy:set rep max-body-size\)/,
    );
    assert.equal((await store.apps.proxySettings('rep')).maxBodySize, 20 * 1024 * 1024);
    await ok(['nginx:set', 'rep', 'hsts', 'true']);
    await ok(['nginx:set', 'rep', 'hsts-max-age', '600']);
    assert.deepEqual(
      [
        (await store.apps.httpsSettings('rep')).hsts,
        (await store.apps.httpsSettings('rep')).hstsMaxAge,
      ],
      [true, 600],
    );
    assert.equal(await ok(['nginx:report', 'rep', '--nginx-hsts-max-age']), '600\n');
    assert.equal(
      JSON.parse(await ok(['nginx:report', 'rep', '--format', 'json']))['client-max-body-size'],
      '20m',
    );
    await ok(['nginx:set', 'rep', 'client-max-body-size']);
    await ok(['nginx:set', 'rep', 'hsts']);
    await refused(
      ['nginx:set', 'rep', 'proxy-read-timeout', '120s'],
      /timeouts are the platform's/,
    );
    await refused(['nginx:set', 'rep', 'nginx-conf-sigil-path', '/etc/passwd'], /no nginx\.conf/);
    await refused(['nginx:set', 'rep', 'client-max-body-size', '$(id)'], /size/i);
    await refused(['nginx:set', 'rep', 'hsts', 'maybe'], /use on or off/);
    await refused(['nginx:set', 'rep', '../../x', '1'], /not an nginx property/);
    for (const argv of [
      ['nginx:reload'],
      ['nginx:start'],
      ['nginx:stop'],
      ['nginx:show-config', 'rep'],
      ['nginx:validate-config', '--clean'],
      ['nginx:access-logs', 'rep', '-t'],
      ['nginx:error-logs', 'rep'],
    ])
      await refused(
        argv,
        new RegExp(`^berth: ${argv[0]}: Berth runs its own router, not nginx — `),
      );
    await refused(
      ['git:load-image', 'rep', 'berth/other:latest'],
      /^berth: git:load-image: a loaded tarball names its own image tags.* — push the image to a registry and deploy it with git:from-image APP IMAGE$/m,
    );
    assert.equal((await run(eve, ['nginx:set', 'rep', 'hsts', 'on'])).code, 1, 'not eve’s app');
  });

  test('proxy:build-config says there is nothing to build, for an app one may see or --all', async () => {
    const r = await run(bob, ['proxy:build-config', 'rep']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^-----> Nothing to build for rep: /);
    assert.equal((await run(bob, ['proxy:build-config', '--all'])).code, 0);
    assert.equal((await run(eve, ['proxy:build-config', 'rep'])).code, 1, 'not visible to eve');
    await refused(['proxy:build-config'], /name the app, or give --all/);
    await refused(['proxy:build-config', '../etc'], /invalid app name/);
  });

  test('domains:set-global replaces the globals, clear-global empties them (admins); reset drops custom domains', async () => {
    const ok = async (argv: string[], actor = ada) => {
      const r = await run(actor, argv);
      assert.equal(r.code, 0, `${argv.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    await ok(['domains:add-global', 'one.test']);
    await ok(['domains:set-global', 'two.test', 'three.test']);
    assert.deepEqual((await store.domains.globals()).sort(), ['three.test', 'two.test']);
    const before = await prefixSnapshot(redis, prefix);
    const bad = await run(ada, ['domains:set-global', 'four.test', 'bad domain']);
    assert.equal(bad.code, 2);
    assert.equal(await prefixSnapshot(redis, prefix), before, 'a bad name changes nothing');
    assert.equal((await run(bob, ['domains:set-global', 'x.test'])).code, 1, 'admins only');
    assert.match(await ok(['domains:clear-global']), /Removed every global domain: /);
    assert.deepEqual(await store.domains.globals(), []);
    await ok(['domains:add', 'rep', 'extra.example.test'], bob);
    assert.match(
      await ok(['domains:reset', 'rep'], bob),
      /served at its default hosts only; removed /,
    );
    assert.deepEqual(await store.domains.list('rep'), []);
  });
});

describe('apps:clone', () => {
  test('copies config vars and the deploy branch to a new app of the cloner; hostile names change nothing', async () => {
    assert.equal((await run(bob, ['apps:create', 'orig'])).code, 0);
    await run(bob, ['config:set', 'orig', '--no-restart', 'SECRET=s3', 'MODE=prod']);
    await run(bob, ['git:set', 'orig', 'deploy-branch', 'release']);
    const r = await run(bob, ['apps:clone', 'orig', 'orig-copy']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '-----> Cloned orig to orig-copy (owner bob): config vars\n');
    assert.deepEqual(await store.config.get('orig-copy'), { MODE: 'prod', SECRET: 's3' });
    assert.equal((await store.apps.get('orig-copy'))?.deployBranch, 'release');
    const again = await run(bob, ['apps:clone', '--ignore-existing', 'orig', 'orig-copy']);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /exists already; nothing cloned/);
    const taken = await run(bob, ['apps:clone', 'orig', 'orig-copy']);
    assert.equal(taken.code, 1);
    assert.match(taken.stderr, /already exists/);
    await refused(['apps:clone', 'orig', '../etc'], /invalid app name/);
    await refused(['apps:clone', 'orig', '1234'], /read it as an IP address/);
    await refused(['apps:clone', 'orig'], /./);
    const before = await prefixSnapshot(redis, prefix);
    const stolen = await run(eve, ['apps:clone', 'orig', 'eves-copy']);
    assert.equal(stolen.code, 1, 'eve may not read orig’s config');
    assert.match(stolen.stderr, /does not exist/);
    assert.equal(await prefixSnapshot(redis, prefix), before);
  });
});
