// Dokku's settings commands (issue 20) through the one dispatcher: --global
// defaults (admins set them, an app's own value wins), ps:set, logs:set,
// resource limits with units, config --global, docker-options. Each command
// is tried with hostile input and by a stranger, an owner and an admin;
// a refusal is one line and changes nothing in Redis.
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { remoteArgv } from '../../cli/remote.ts';
import { loadConfig } from '../../services/core/config.ts';
import { Store } from '../../services/core/store/index.ts';
import { restoreSnapshot, takeSnapshot } from '../../services/platform/backup/redis-snapshot.ts';
import { instanceSpec } from '../../services/platform/release/instance-spec.ts';
import { commandRunner, userActor } from '../harness/commands.ts';
import { prefixSnapshot, redisClient, testPrefix } from '../harness/redis.ts';
import { tempDir } from '../harness/tmp.ts';

const prefix = testPrefix();
const redis = await redisClient(prefix);
const store = new Store(redis, prefix);
const dataDir = await tempDir('berth-dokku-settings');
const allowed = await tempDir('berth-allowed');
const config = loadConfig({
  BERTH_DOMAIN: 'berth.test',
  BERTH_DATA_DIR: dataDir,
  BERTH_STORAGE_ALLOWED_PATHS: allowed,
});
const run = commandRunner(store, config);
const ada = userActor('ada', 'admin');
const bob = userActor('bob');
const eve = userActor('eve');
for (const u of [ada, bob, eve]) if (u.kind === 'user') await store.users.create(u.user, u.role);
await store.apps.create({ name: 'shop', owner: 'bob' });
const oneLine = (s: string) => s.trim().split('\n').length === 1;

async function ok(actor: typeof bob, argv: string[], stdin = '') {
  const r = await run(actor, argv, stdin);
  assert.equal(r.code, 0, `${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** Refused in one line with `code`, matching `pattern`, and nothing in Redis changed. */
async function refused(argv: string[], pattern: RegExp, actor = bob, code = 2) {
  const before = await prefixSnapshot(redis, prefix);
  const r = await run(actor, argv);
  assert.equal(r.code, code, `${argv.join(' ')}: ${r.stdout}${r.stderr}`);
  assert.ok(oneLine(r.stderr), r.stderr);
  assert.match(r.stderr, pattern);
  assert.equal(await prefixSnapshot(redis, prefix), before, `${argv.join(' ')} changed nothing`);
}

const FORBIDDEN = /^berth: .* is for admins/;
const NOT_FOUND = /^berth: app "shop" does not exist/;

describe('--global: platform-wide defaults', () => {
  test('only admins set them; owners and strangers are refused, nothing changed', async () => {
    for (const argv of [
      ['ps:set', '--global', 'restart-policy', 'always'],
      ['logs:set', '--global', 'max-size', '20m'],
      ['checks:set', '--global', 'wait-to-retire', '5'],
      ['resource:limit', '--global', '--memory', '256MB'],
      ['resource:limit-clear', '--global'],
      ['config:set', '--global', 'A=1'],
      ['config:unset', '--global', 'A'],
      ['config:get', '--global', 'A'],
      ['config:show', '--global'],
      ['config:export', '--global'],
    ]) {
      await refused(argv, FORBIDDEN, bob, 1);
      await refused(argv, FORBIDDEN, eve, 1);
    }
  });

  test('reports with --global are anyone’s; their values are the global ones', async () => {
    await ok(ada, ['ps:set', '--global', 'restart-policy', 'on-failure:3']);
    await ok(ada, ['ps:set', '--global', 'stop-timeout-seconds', '45']);
    await ok(ada, ['logs:set', '--global', 'max-size', '20m']);
    await ok(ada, ['checks:set', '--global', 'wait-to-retire', '7']);
    assert.equal(
      await ok(eve, ['ps:report', '--global', '--ps-global-restart-policy']),
      'on-failure:3\n',
    );
    assert.equal(await ok(eve, ['logs:report', '--global', '--logs-global-max-size']), '20m\n');
    assert.equal(
      await ok(eve, ['checks:report', '--global', '--checks-global-wait-to-retire']),
      '7\n',
    );
    const json = JSON.parse(await ok(eve, ['ps:report', '--global', '--format', 'json']));
    assert.equal(json['global-stop-timeout-seconds'], '45');
  });

  test('an app’s own value wins over the global one, which wins over Berth’s default', async () => {
    const computed = async (flag: string, ns = 'ps') =>
      (await ok(bob, [`${ns}:report`, 'shop', flag])).trim();
    assert.equal(await computed('--ps-computed-restart-policy'), 'on-failure:3');
    await ok(bob, ['ps:set', 'shop', 'restart-policy', 'no']);
    assert.equal(await computed('--ps-computed-restart-policy'), 'no');
    assert.equal(await computed('--ps-restart-policy'), 'no');
    assert.equal(await computed('--ps-computed-procfile-path'), 'Procfile');
    assert.equal(await computed('--logs-computed-max-size', 'logs'), '20m');
    await ok(bob, ['logs:set', 'shop', 'max-size', '5m']);
    assert.equal(await computed('--logs-computed-max-size', 'logs'), '5m');
    assert.equal(await computed('--checks-computed-wait-to-retire', 'checks'), '7');
    // No value: back to the default (the global one here).
    await ok(bob, ['ps:set', 'shop', 'restart-policy']);
    assert.equal(await computed('--ps-computed-restart-policy'), 'on-failure:3');
    await ok(ada, ['ps:set', '--global', 'restart-policy']);
    assert.equal(await computed('--ps-computed-restart-policy'), 'unless-stopped');
  });

  test('the laptop client puts no app before --global', () => {
    const remote = { user: 'berth', host: 'h', port: undefined, app: 'api' };
    assert.deepEqual(remoteArgv(['ps:set', '--global', 'restart-policy', 'no'], remote), [
      'ps:set',
      '--global',
      'restart-policy',
      'no',
    ]);
  });
});

describe('ps:set and logs:set', () => {
  test('hostile values are refused in one line', async () => {
    for (const [key, value] of [
      ['restart-policy', 'always;rm -rf /'],
      ['restart-policy', 'on-failure:99999'],
      ['procfile-path', '../../etc/passwd'],
      ['procfile-path', '/etc/passwd'],
      ['procfile-path', 'a/../../Procfile'],
      ['procfile-path', 'Proc file'],
      ['stop-timeout-seconds', '-1'],
      ['stop-timeout-seconds', '99999'],
    ] as const) {
      await refused(['ps:set', 'shop', key, value], /^berth: (invalid |Unknown option)/);
    }
    // --global smuggled in as a value is the flag: an owner is refused, an admin's names no setting.
    await refused(['ps:set', 'shop', 'restart-policy', '--global'], FORBIDDEN, bob, 1);
    await refused(['ps:set', 'shop', 'restart-policy', '--global'], /has no setting "shop"/, ada);
    await refused(['ps:set', 'shop', 'start-cmd', 'x'], /ps:set has no setting "start-cmd"/);
    await refused(['logs:set', 'shop', 'max-size', '10x'], /^berth: invalid log max size/);
    await refused(['logs:set', 'shop', 'max-size', '5g'], /^berth: invalid log max size/);
    await refused(['logs:set', 'shop', 'vector-sink', 'x'], /logs:set has no setting/);
    await refused(['ps:set', '../x', 'restart-policy', 'no'], /^berth: invalid app name/);
  });

  test('unrotated logs are the operator’s call: unlimited is for admins', async () => {
    await refused(['logs:set', 'shop', 'max-size', 'unlimited'], FORBIDDEN, bob, 1);
    await ok(ada, ['logs:set', 'shop', 'max-size', 'unlimited']);
    await ok(ada, ['logs:set', 'shop', 'max-size']);
  });

  test('strangers do not see the app; owners set it', async () => {
    await refused(['ps:set', 'shop', 'restart-policy', 'no'], NOT_FOUND, eve, 1);
    await refused(['logs:set', 'shop', 'max-size', '1m'], NOT_FOUND, eve, 1);
    await refused(['logs:report', 'shop'], NOT_FOUND, eve, 1);
    await ok(bob, ['ps:set', 'shop', 'procfile-path', '.dokku/Procfile']);
    assert.equal(await ok(bob, ['ps:report', 'shop', '--ps-procfile-path']), '.dokku/Procfile\n');
    await ok(bob, ['ps:set', 'shop', 'procfile-path']);
  });
});

describe('resource limits', () => {
  test('--memory takes 512MB, 512m, 1GB and a bare number of MB', async () => {
    for (const [given, mb] of [
      ['512MB', 512],
      ['512m', 512],
      ['1GB', 1024],
      ['1gib', 1024],
      ['100', 100],
    ] as const) {
      await ok(bob, ['resource:limit', 'shop', '--memory', given, '--no-restart']);
      const limits = JSON.parse(await ok(bob, ['resource:report', 'shop', '--format', 'json']));
      assert.equal(limits._all_.memory, mb * 1024 ** 2, given);
    }
    for (const bad of ['512XB', '-1m', '5m', '0x10m', '1e3m', '512 MB']) {
      await refused(
        ['resource:limit', 'shop', `--memory=${bad}`, '--no-restart'],
        /^berth: invalid memory size/,
      );
    }
    await ok(bob, ['resource:limit-clear', 'shop', '--no-restart']);
  });

  test('--global limits apply where the app sets none', async () => {
    await ok(ada, ['resource:limit', '--global', '--memory', '256MB', '--pids', '100']);
    assert.match(await ok(eve, ['resource:report', '--global']), /256 MB of memory, 100 processes/);
    const s = await store.apps.deploySettings('shop');
    assert.equal(s.global.resources?.memory, 256 * 1024 ** 2);
    await refused(['resource:limit', '--global', '--memory', '1g', 'web'], /give no TYPE/, ada);
    await ok(ada, ['resource:limit-clear', '--global']);
  });
});

describe('config --global', () => {
  test('admins set, read and unset global vars; the app’s own win in what instances see', async () => {
    await ok(ada, ['config:set', '--global', 'REGION=eu', 'SHARED=global']);
    await ok(bob, ['config:set', 'shop', '--no-restart', 'SHARED=mine']);
    assert.equal(await ok(ada, ['config:get', '--global', 'REGION']), 'eu\n');
    assert.match(await ok(ada, ['config:show', '--global']), /REGION: +eu/);
    assert.equal(
      await ok(ada, ['config:export', '--global', '--format', 'envfile']),
      'REGION="eu"\nSHARED="global"\n',
    );
    // The app's own config is its own; --merged shows what its instances see.
    assert.doesNotMatch(await ok(bob, ['config:show', 'shop']), /REGION/);
    const merged = JSON.parse(
      await ok(bob, ['config:show', 'shop', '--merged', '--format', 'json']),
    );
    assert.deepEqual(merged, { REGION: 'eu', SHARED: 'mine' });
    assert.equal(
      await ok(bob, ['config:export', 'shop', '--merged', '--format', 'envfile']),
      'REGION="eu"\nSHARED="mine"\n',
    );
    const spec = instanceSpec(
      {
        app: 'shop',
        version: 1,
        image: 'x',
        config: { SHARED: 'mine' },
        processes: { web: 'x' },
        formation: { web: 1 },
        healthchecks: {},
      } as never,
      await store.apps.deploySettings('shop'),
      { type: 'web', instance: 1, port: 5000, stopTimeoutSec: 30 },
    );
    assert.equal(spec.env.REGION, 'eu');
    assert.equal(spec.env.SHARED, 'mine');
    await ok(ada, ['config:unset', '--global', 'SHARED']);
    assert.equal((await run(ada, ['config:get', '--global', 'SHARED'])).code, 1);
  });

  test('hostile keys and PORT are refused, nothing changed', async () => {
    await refused(['config:set', '--global', 'BAD-KEY=1'], /^berth: invalid config key/, ada);
    await refused(['config:set', '--global', 'PORT=80'], /PORT is each app's own/, ada);
    await refused(['config:set', '--global', 'A=a\u0000b'], /NUL byte/, ada);
    await refused(['config:get', '--global', '../x'], /^berth: invalid config key/, ada);
  });
});

describe('docker-options', () => {
  const add = (...option: string[]) => ['docker-options:add', 'shop', 'deploy', ...option];

  test('admins only; strangers do not see the app', async () => {
    await refused(add('--shm-size', '256m'), FORBIDDEN, bob, 1);
    await refused(add('--shm-size', '256m'), NOT_FOUND, eve, 1);
    await refused(['docker-options:clear', 'shop'], FORBIDDEN, bob, 1);
    await refused(
      ['docker-options:remove', 'shop', 'deploy', '--shm-size=256m'],
      FORBIDDEN,
      bob,
      1,
    );
  });

  test('what gives the host away is refused in one line saying why', async () => {
    mkdirSync(path.join(dataDir, 'storage', 'media'), { recursive: true });
    mkdirSync(path.join(allowed, 'real'), { recursive: true });
    symlinkSync('/etc', path.join(allowed, 'link'));
    for (const [option, why] of [
      [['--privileged'], /every capability and device of the host/],
      [['--network', 'host'], /own network/],
      [['--net=host'], /own network/],
      [['--pid=host'], /process namespace/],
      [['--ipc', 'host'], /IPC namespace/],
      [['--uts=host'], /UTS namespace/],
      [['--userns=host'], /user namespace/],
      [['--cap-add', 'SYS_ADMIN'], /kernel capability/],
      [['--security-opt', 'seccomp=unconfined'], /confinement/],
      [['--security-opt=apparmor=unconfined'], /confinement/],
      [['--device', '/dev/sda'], /device of the host/],
      [['-v', '/var/run/docker.sock:/var/run/docker.sock'], /system directory|Docker socket/],
      [['-v', '/srv/docker.sock:/s'], /Docker socket/],
      [['--volume=/etc:/host-etc'], /system directory/],
      [['-v', '/:/host'], /system directory/],
      [['-v', `${dataDir}/storage/../certs:/c`], /absolute and normalized/],
      [['-v', `${dataDir}/repos:/r`], /outside .*BERTH_STORAGE_ALLOWED_PATHS/],
      [['-v', `${allowed}/link:/x`], /symlink/],
      [['-v', 'uploads:/x'], /storage:mount/],
      [['--mount', 'type=bind,src=/,dst=/h'], /--volume/],
      [['--volumes-from', 'other'], /another container/],
      [['--label', 'berth.app=other'], /Berth's or Docker's own label/],
      [['--restart', 'always'], /ps:set APP restart-policy/],
      [['-m', '1g'], /resource:limit/],
      [['--log-opt', 'max-size=1g'], /logs:set/],
      [['-p', '22:22'], /router/],
      // Smuggled: a refused option after an accepted one, in one word or two.
      [['--shm-size', '256m', '--privileged'], /every capability/],
      [['--shm-size=256m --privileged'], /every capability/],
      [['--shm-size', '$(reboot)'], /quotes, backslashes, \$/],
      [['--add-host', 'db:host-gateway'], /literal IP/],
      [['--ulimit', 'rtprio=99'], /NAME one of/],
      [['--ulimit', 'nofile=99999999'], /at most/],
      [['--tmpfs', '/tmp:exec,size=1g'], /options are/],
      [['--entrypoint', '/bin/sh'], /accepted: --shm-size --ulimit/],
      [['--env'], /needs a value/],
    ] as const) {
      await refused(add(...option), why, ada);
    }
    await refused(['docker-options:add', 'shop', 'build', '--shm-size', '1m'], /phase build/, ada);
    await refused(['docker-options:add', 'shop', 'deploy;x', '--shm-size', '1m'], /phase/, ada);
  });

  test('accepted options are stored in their canonical form and reported', async () => {
    await ok(ada, add('--shm-size', '256m', '--ulimit', 'nofile=1024:2048'));
    await ok(ada, [
      'docker-options:add',
      'shop',
      'deploy,run',
      `-v`,
      `${dataDir}/storage/media:/media:ro`,
    ]);
    await ok(ada, add('-v', `${allowed}/real:/real`));
    await ok(ada, add('--add-host', 'db.internal:10.0.0.5', '-e', 'FROM_OPTION=1'));
    assert.equal(
      await ok(bob, ['docker-options:report', 'shop', '--docker-options-deploy']),
      `--shm-size=256m --ulimit=nofile=1024:2048 --volume=${dataDir}/storage/media:/media:ro --volume=${allowed}/real:/real --add-host=db.internal:10.0.0.5 --env=FROM_OPTION=1\n`,
    );
    assert.equal(
      await ok(bob, ['docker-options:report', 'shop', '--docker-options-run']),
      `--volume=${dataDir}/storage/media:/media:ro\n`,
    );
    const spec = instanceSpec(
      {
        app: 'shop',
        version: 1,
        image: 'x',
        config: {},
        processes: { web: 'x' },
        healthchecks: {},
      } as never,
      await store.apps.deploySettings('shop'),
      { type: 'web', instance: 1, port: 5000, stopTimeoutSec: 30 },
    );
    assert.equal(spec.dockerOptions?.shmSize, 256 * 1024 ** 2);
    assert.deepEqual(spec.dockerOptions?.ulimits, [{ Name: 'nofile', Soft: 1024, Hard: 2048 }]);
    assert.deepEqual(spec.dockerOptions?.extraHosts, ['db.internal:10.0.0.5']);
    await ok(ada, ['docker-options:remove', 'shop', 'deploy', '--shm-size', '256m']);
    assert.doesNotMatch(await ok(bob, ['docker-options:report', 'shop']), /shm-size/);
    await ok(ada, ['docker-options:clear', 'shop']);
    assert.equal(await ok(bob, ['docker-options:report', 'shop', '--docker-options-deploy']), '\n');
  });
});

describe('storage: host directories (admins), volumes (tenants)', () => {
  test('storage:create, list-entries, info, mount, unmount, destroy', async () => {
    await ok(ada, ['storage:create', 'media']);
    await ok(ada, ['storage:create', 'shared', path.join(allowed, 'real')]);
    const entries = JSON.parse(await ok(ada, ['storage:list-entries', '--format', 'json']));
    assert.deepEqual(
      entries.map((e: { name: string; path: string }) => [e.name, e.path]),
      [
        ['media', path.join(dataDir, 'storage', 'media')],
        ['shared', path.join(allowed, 'real')],
      ],
    );
    await ok(ada, ['storage:mount', 'shop', 'media', '--container-dir', '/media']);
    await ok(ada, ['storage:mount', 'shop', `${allowed}/real:/shared:ro`]);
    assert.equal(
      await ok(bob, ['storage:report', 'shop', '--storage-run-mounts']),
      `-v ${dataDir}/storage/media:/media -v ${allowed}/real:/shared:ro\n`,
    );
    assert.match(await ok(ada, ['storage:info', 'media']), /Mounted by: +shop/);
    await refused(['storage:destroy', 'media'], /mounted by shop/, ada);
    await ok(ada, ['storage:unmount', 'shop', 'media', '--container-dir', '/media']);
    await ok(ada, ['storage:unmount', 'shop', `${allowed}/real:/shared:ro`]);
    assert.equal(await ok(bob, ['storage:report', 'shop', '--storage-run-mounts']), '\n');
    await ok(ada, ['storage:destroy', 'media']);
    await ok(ada, ['storage:destroy', 'shared']);
  });

  test('owners and strangers: no host directories, no entries', async () => {
    await refused(['storage:create', 'mine'], FORBIDDEN, bob, 1);
    await refused(['storage:list-entries'], FORBIDDEN, bob, 1);
    await refused(['storage:info', 'media'], FORBIDDEN, bob, 1);
    await refused(['storage:destroy', 'media'], FORBIDDEN, bob, 1);
    await refused(['storage:mount', 'shop', `${dataDir}/storage/x:/x`], FORBIDDEN, bob, 1);
    await refused(['storage:mount', 'shop', 'media', '--container-dir', '/m'], FORBIDDEN, bob, 1);
    await refused(['storage:mount', 'shop', '/etc:/x'], NOT_FOUND, eve, 1);
  });

  test('hostile names and paths are refused in one line, nothing changed', async () => {
    for (const [argv, why] of [
      [['storage:create', '../x'], /invalid storage name/],
      [['storage:create', 'Bad_Name'], /invalid storage name/],
      [['storage:create', 'etc', '/etc'], /system directory/],
      [['storage:create', 'up', `${dataDir}/storage/../repos`], /absolute and normalized/],
      [['storage:create', 'out', '/srv/elsewhere'], /outside/],
      [['storage:create', 'sock', '/var/run/docker.sock'], /Docker socket|system directory/],
      [['storage:create', 'link', `${allowed}/link`], /symlink/],
      [['storage:mount', 'shop', '/etc/shadow:/x'], /system directory/],
      [['storage:mount', 'shop', `${allowed}/real:/x:rw:z`], /HOST:CONTAINER/],
      [['storage:mount', 'shop', `${allowed}/real:../x`], /container path/],
      [['storage:mount', 'shop', 'nope', '--container-dir', '/x'], /no storage entry nope/],
      [
        ['storage:mount', 'shop', `${allowed}/real:/x --privileged`],
        /quotes|value without|refused/,
      ],
    ] as const) {
      await refused([...argv], why, ada);
    }
  });

  test('tenants keep their volumes: NAME:/path is still a volume name, checked as before', async () => {
    await refused(['storage:mount', 'shop', '../up:/uploads'], /invalid storage name/);
    await refused(['storage:mount', 'shop', 'up:/proc'], /container path/);
  });
});

describe('durable', () => {
  test('a backup keeps the global settings, global config vars and storage entries', async () => {
    await ok(ada, ['ps:set', '--global', 'stop-timeout-seconds', '20']);
    await ok(ada, ['config:set', '--global', 'KEPT=1']);
    await ok(ada, ['storage:create', 'kept']);
    const snapshot = await takeSnapshot(redis, prefix);
    const other = testPrefix();
    await restoreSnapshot(redis, other, snapshot.keys);
    const restored = new Store(redis, other);
    assert.equal((await restored.platform.get()).stopTimeoutSeconds, 20);
    assert.deepEqual(await restored.platform.config(), { KEPT: '1', REGION: 'eu' });
    assert.equal(
      (await restored.platform.storageEntry('kept'))?.path,
      path.join(dataDir, 'storage', 'kept'),
    );
    const keys = await redis.keys(`${other}*`);
    if (keys.length > 0) await redis.del(...keys);
  });
});
