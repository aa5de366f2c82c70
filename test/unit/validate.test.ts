import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BerthError } from '../../services/core/errors.ts';
import * as validate from '../../services/core/validate.ts';

const refused = (fn: () => unknown) =>
  assert.throws(
    fn,
    (e: unknown) =>
      e instanceof BerthError && e.code === 'BERTH_E_INVALID_NAME' && !e.toLine().includes('\n'),
  );

describe('validate.appName', () => {
  test("accepts DNS-label names, a leading digit and 63 characters as Dokku's", () => {
    for (const ok of ['a', 'api', 'my-app-2', 'x'.repeat(63), '1app', '2048-game', '0xapp'])
      assert.equal(validate.appName(ok), ok);
  });
  test('refuses hostile and malformed names', () => {
    for (const bad of [
      '',
      '../../etc',
      'app;id',
      '$(id)',
      '/abs/path',
      'a'.repeat(64),
      'a'.repeat(200),
      '1234', // inet_aton reads it as 0.0.4.210
      '0x1f',
      'my.app', // Dokku allows dots; one DNS label does not
      '-1app',
      'Upper',
      'аpp', // Cyrillic а, a look-alike
      '-rf',
      'app\nrm',
      'app-',
      'xn--abc',
      'app name',
      'app.git',
    ]) {
      refused(() => validate.appName(bad));
    }
  });
});

describe('validate.domain', () => {
  test('lower-cases, strips the root dot and converts IDNA to punycode', () => {
    assert.equal(validate.domain('API.Example.com.'), 'api.example.com');
    assert.equal(validate.domain('bücher.example'), 'xn--bcher-kva.example');
  });
  test('refuses what is not a host name', () => {
    for (const bad of [
      '',
      'a..b',
      '-a.com',
      'a-.com',
      'a_b.com',
      '1.2.3.4',
      `${'x'.repeat(64)}.com`,
      'a b.com',
      'a/b',
    ]) {
      refused(() => validate.domain(bad));
    }
  });
});

describe('validate.envKey', () => {
  test('accepts shell-style names', () => {
    for (const ok of ['PORT', 'database_url', '_X1']) assert.equal(validate.envKey(ok), ok);
  });
  test('refuses others and the reserved BERTH_ prefix', () => {
    for (const bad of ['1X', 'A-B', 'A B', '', 'BERTH_DATA_DIR', 'berth_x', 'A=B'])
      refused(() => validate.envKey(bad));
  });
});

describe('validate.port and userName', () => {
  test('ports', () => {
    assert.equal(validate.port('80'), 80);
    assert.equal(validate.port('0', { allowZero: true }), 0);
    for (const bad of ['0', '65536', 'abc', '-1', '1e3', ' 80', ''])
      refused(() => validate.port(bad));
  });
  test('user names', () => {
    assert.equal(validate.userName('alice.b'), 'alice.b');
    for (const bad of ['Alice', '', '-x', 'a;b', 'a'.repeat(33)])
      refused(() => validate.userName(bad));
  });
});

describe('validate.repoPath and branchName', () => {
  test('a repository path names an app', () => {
    for (const [input, app] of [
      ['/api.git', 'api'],
      ['api', 'api'],
      ['api.git', 'api'],
      ['~/api.git', 'api'],
      ['/api/', 'api'],
    ]) {
      assert.equal(validate.repoPath(input as string), app);
    }
  });
  test('anything else is refused', () => {
    for (const bad of [
      '../../etc',
      '/etc/passwd',
      'app;id',
      '$(id)',
      '/a/b.git',
      '',
      '/',
      'API',
      '..',
      `/${'a'.repeat(200)}`,
      'app\nid',
    ]) {
      refused(() => validate.repoPath(bad));
    }
  });
  test('branch names', () => {
    for (const ok of ['main', 'release/1.2', 'feature_x-y'])
      assert.equal(validate.branchName(ok), ok);
    for (const bad of [
      '',
      '-x',
      'a..b',
      'a/',
      '/a',
      'a.lock',
      'a//b',
      '.hidden',
      'a/.b',
      'a b',
      'a~1',
      'a:b',
      'ä',
    ]) {
      refused(() => validate.branchName(bad));
    }
  });
});

describe('validate.repoFilePath, buildpackName, imageRef', () => {
  test('a Dockerfile path inside the repository', () => {
    for (const ok of ['Dockerfile', 'docker/Dockerfile.web', 'a/b/c+d@e_f-g'])
      assert.equal(validate.repoFilePath(ok), ok);
    for (const bad of [
      '',
      '/etc/passwd',
      '../Dockerfile',
      'a/../../b',
      './Dockerfile',
      'docker/',
      'a//b',
      'my file',
      'x\ny',
      '$(id)',
      'a'.repeat(256),
    ]) {
      refused(() => validate.repoFilePath(bad));
    }
  });
  test('a buildpack name is a folder name, nothing more', () => {
    assert.equal(validate.buildpackName('node'), 'node');
    for (const bad of ['', 'Node', '../node', 'https://github.com/x/y', 'a b', '-x'])
      refused(() => validate.buildpackName(bad));
  });
  test('image references as Docker spells them', () => {
    for (const ok of [
      'nginx',
      'team/api:1.4',
      'registry.example.com:5000/team/api:v2',
      'berth/app:mx1a2b3c',
      `api@sha256:${'a'.repeat(64)}`,
    ])
      assert.equal(validate.imageRef(ok), ok);
    for (const bad of ['', 'Team/API', 'api:', 'api:-x', '--rm', 'a b', 'api;id', 'x'.repeat(256)])
      refused(() => validate.imageRef(bad));
  });
});

describe('validate.bodySize', () => {
  test("nginx's client_max_body_size spelling, in bytes; 0 is no limit", () => {
    assert.equal(validate.bodySize('0'), 0);
    assert.equal(validate.bodySize('1048576'), 1024 ** 2);
    assert.equal(validate.bodySize('512k'), 512 * 1024);
    assert.equal(validate.bodySize('10M'), 10 * 1024 ** 2);
    assert.equal(validate.bodySize('1024g'), 1024 ** 4);
    for (const bad of ['', '-1', '10mb', '1.5m', '010m', 'm', '1025g', '1t', ' 1m', '1m\n', '0x10'])
      refused(() => validate.bodySize(bad));
  });
  test('formatSize is the shortest spelling that reads back the same', () => {
    for (const [bytes, text] of [
      [0, '0'],
      [1000, '1000'],
      [1024, '1k'],
      [1536 * 1024, '1536k'],
      [100 * 1024 ** 2, '100m'],
      [2 * 1024 ** 3, '2g'],
    ] as const) {
      assert.equal(validate.formatSize(bytes), text);
      assert.equal(validate.bodySize(text), bytes);
    }
  });
});

describe('validate.quotaSize, describeSize', () => {
  test('a size quota is bytes or k, m, g up to 1024g, or unlimited', () => {
    assert.equal(validate.quotaSize('unlimited'), null);
    assert.equal(validate.quotaSize('0'), 0);
    assert.equal(validate.quotaSize('200k'), 200 * 1024);
    assert.equal(validate.quotaSize('512M'), 512 * 1024 ** 2);
    assert.equal(validate.quotaSize('1024g'), 1024 ** 4);
    for (const bad of ['', '-1', 'lots', '1.5g', '1025g', '1t', ' 1m', 'default'])
      refused(() => validate.quotaSize(bad));
  });
  test('describeSize: the exact spelling, else one decimal rounded up', () => {
    for (const [bytes, text] of [
      [0, '0 bytes'],
      [1000, '1000 bytes'],
      [200 * 1024, '200k'],
      [1536 * 1024, '1.5m'],
      [1_050_000, '1.1m'],
      [2 * 1024 ** 3 + 1, '2.1g'],
      [1024 ** 2 - 1, '1024k'],
    ] as const) {
      assert.equal(validate.describeSize(bytes), text);
    }
  });
});

describe('validate.backendAddress, splitBackendAddress, schedulerName', () => {
  test('an instance is reached at IPv4, [IPv6] or a DNS name, with a port', () => {
    for (const ok of [
      '172.18.0.5:5000',
      '[fd00::5]:80',
      '[::ffff:172.18.0.5]:5000',
      'tasks.web.api:5000',
      'web_1:8080',
    ]) {
      assert.equal(validate.backendAddress(ok), ok);
    }
    assert.deepEqual(validate.splitBackendAddress('[fd00::5]:80'), { host: 'fd00::5', port: 80 });
    assert.deepEqual(validate.splitBackendAddress('172.18.0.5:5000'), {
      host: '172.18.0.5',
      port: 5000,
    });
  });
  test('anything else is refused before it reaches a socket', () => {
    for (const bad of [
      '',
      '172.18.0.5',
      '172.18.0.5:0',
      '172.18.0.5:65536',
      '999.1.1.1:80',
      'fd00::5:80',
      '[fd00::5]',
      '[not-v6]:80',
      'http://a:80',
      'a b:80',
      'a/b:80',
      '-a:80',
      'Upper:80',
      'a:80\n',
    ]) {
      refused(() => validate.backendAddress(bad));
    }
  });
  test('a scheduler is named like a plugin', () => {
    assert.equal(validate.schedulerName('docker-local'), 'docker-local');
    for (const bad of ['', 'Docker', '1x', 'a b', '../x', 'x'.repeat(33)])
      refused(() => validate.schedulerName(bad));
  });
});

describe('validate.unitName and hostPath (berth service:install)', () => {
  test('a unit name is a plain word that cannot leave its directory or make a template', () => {
    for (const ok of ['berth', 'berth-staging', 'b2', 'berth_2']) {
      assert.equal(validate.unitName(ok), ok);
    }
    for (const bad of [
      '',
      'Berth',
      'berth.service',
      'berth@',
      '../x',
      'a/b',
      'a b',
      'x\n[Service]',
      '-berth',
      'berth-',
      '2berth',
      'b'.repeat(65),
    ]) {
      refused(() => validate.unitName(bad));
    }
  });
  test('a path systemd can read back as it is, normalized', () => {
    assert.equal(validate.hostPath('/etc/systemd/system/'), '/etc/systemd/system');
    assert.equal(validate.hostPath('//srv//my dir/100%'), '/srv/my dir/100%');
    assert.equal(validate.hostPath('/'), '/');
    for (const bad of [
      'relative',
      '',
      '/a/../etc',
      '/a/./b',
      '/a\nExecStart=/bin/sh',
      '/a\\',
      '/a\0b',
      ' /a',
      '/a ',
      `/${'a'.repeat(1100)}`,
    ]) {
      refused(() => validate.hostPath(bad, 'unit directory'));
    }
  });
});

describe('validate.cronSchedule', () => {
  test("Dokku's schedules: five fields, names, ranges, steps, lists, macros", () => {
    for (const s of [
      '*/5 * * * *',
      '0 1 * * *',
      '0 0 1 1 *',
      '15,45 9-17 * * mon-fri',
      '0 0 * JAN,jul 0',
      '0 0 * * 7',
      '*/10 0-20/5 ? * *',
    ]) {
      assert.equal(validate.cronSchedule(s), s);
    }
    assert.equal(validate.cronSchedule('  @Daily '), '@daily');
    assert.equal(validate.cronSchedule('0  1 *   * *'), '0 1 * * *');
  });

  test('a bad schedule is one line saying what is wrong', () => {
    const cases: [string, RegExp][] = [
      ['', /it is empty/],
      ['* * * *', /it has 4 fields; use five/],
      ['*/5 * * * * *', /seconds are not supported/],
      ['60 * * * *', /minute 60 is outside 0-59/],
      ['* 24 * * *', /hour 24 is outside 0-23/],
      ['* * 0 * *', /day of month 0 is outside 1-31/],
      ['* * * 13 *', /month 13 is outside 1-12/],
      ['* * * * funday', /day of week "funday" is not a number/],
      ['*/0 * * * *', /step "0" is not a positive number/],
      ['5-1 * * * *', /runs backwards/],
      ['@reboot', /use five fields or one of/],
      ['* * * * *; rm -rf /', /it has 8 fields/],
    ];
    for (const [s, reason] of cases) {
      assert.throws(
        () => validate.cronSchedule(s),
        (e: BerthError) =>
          e.code === 'BERTH_E_INVALID_NAME' && reason.test(e.message) && !e.message.includes('\n'),
        s,
      );
    }
  });

  test('seconds only where the operator allows them (BERTH_CRON_SECONDS)', () => {
    assert.equal(validate.cronSchedule('*/5 * * * * *', { seconds: true }), '*/5 * * * * *');
    assert.equal(validate.cronSchedule('*/5 * * * *', { seconds: true }), '*/5 * * * *');
    assert.throws(() => validate.cronSchedule('60 * * * * *', { seconds: true }), /second 60/);
  });
});

describe('exposure (expose NAME [ADDRESS:]PORT) and isLoopback', () => {
  test('a port alone is on 127.0.0.1; an address is kept, IPv6 without its brackets', () => {
    assert.deepEqual(validate.exposure('16379'), { address: '127.0.0.1', port: 16379 });
    assert.deepEqual(validate.exposure('0.0.0.0:5432'), { address: '0.0.0.0', port: 5432 });
    assert.deepEqual(validate.exposure('[::1]:3306'), { address: '::1', port: 3306 });
  });
  test('host names, ports below 1024 or past 65535, and anything else are refused', () => {
    for (const bad of [
      '',
      'localhost:6379',
      '80',
      '127.0.0.1:0',
      '127.0.0.1:65536',
      '1.2.3:6379',
      '::1:6379',
      '127.0.0.1:6379;id',
      ' 6379',
      '6379\n',
    ]) {
      assert.throws(() => validate.exposure(bad), BerthError, JSON.stringify(bad));
    }
  });
  test('loopback is 127.0.0.0/8 and ::1, nothing else', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '0:0:0:0:0:0:0:1']) {
      assert.equal(validate.isLoopback(a), true, a);
    }
    for (const a of ['0.0.0.0', '::', '10.0.0.1', '::ffff:127.0.0.1', '192.168.1.1', 'fe80::1']) {
      assert.equal(validate.isLoopback(a), false, a);
    }
  });
});

describe('validate.placementConstraint, placementPreference (scheduler-swarm:set)', () => {
  test('node attributes and node or engine labels, == or !=', () => {
    for (const ok of [
      'node.labels.zone==eu',
      'node.labels.disk.type!=hdd',
      'engine.labels.gpu==yes',
      'node.hostname==node-2.example.com',
      'node.id==abcdef123456',
      'node.role==manager',
      'node.role!=worker',
      'node.platform.os==linux',
      'node.platform.arch==x86_64',
    ]) {
      assert.equal(validate.placementConstraint(ok), ok);
    }
  });
  test('other attributes, operators, values and anything a shell or Swarm would read more into are refused', () => {
    for (const bad of [
      '',
      'node.labels.zone=eu',
      'node.labels.zone == eu',
      'node.labels.zone==',
      'node.labels.==eu',
      'container.labels.x==y',
      'node.ip==10.0.0.1/8',
      'node.role==admin',
      'node.labels.zone==eu,node.role==worker',
      'node.labels.zone==eu;id',
      'node.labels.zone==$(id)',
      'node.labels.zone==-x',
      'node.labels.zone==eu\n',
      `node.labels.zone==${'a'.repeat(129)}`,
    ]) {
      assert.throws(() => validate.placementConstraint(bad), BerthError, JSON.stringify(bad));
    }
  });
  test('a preference spreads over a label', () => {
    assert.equal(
      validate.placementPreference('spread=node.labels.zone'),
      'spread=node.labels.zone',
    );
    assert.equal(
      validate.placementPreference('spread=engine.labels.rack'),
      'spread=engine.labels.rack',
    );
    for (const bad of [
      'spread=node.id',
      'spread=node.labels.',
      'node.labels.zone',
      'spread=node.labels.zone;x',
    ]) {
      assert.throws(() => validate.placementPreference(bad), BerthError, bad);
    }
  });
});

describe('validate.sshTarget, swarmJoinToken (nodes:add)', () => {
  test('USER@HOST[:PORT], the host a name or an address', () => {
    assert.deepEqual(validate.sshTarget('root@node2.example.com'), {
      user: 'root',
      host: 'node2.example.com',
      port: 22,
    });
    assert.deepEqual(validate.sshTarget('deploy@10.0.0.5:2222'), {
      user: 'deploy',
      host: '10.0.0.5',
      port: 2222,
    });
    assert.deepEqual(validate.sshTarget('root@[fd00::5]:22'), {
      user: 'root',
      host: 'fd00::5',
      port: 22,
    });
  });
  test('no option, no second argument, no shell text gets through', () => {
    for (const bad of [
      '',
      'root',
      'node2',
      '@node2',
      '-oProxyCommand=id@node2',
      'root@-oProxyCommand=id',
      'root@node2 id',
      'root@node2;id',
      'root@node2:0',
      'root@node2:65536',
      'root@[node2]',
      'Root@node2',
      'root@node2\n',
      'root@-node2',
    ]) {
      assert.throws(() => validate.sshTarget(bad), BerthError, JSON.stringify(bad));
    }
  });
  test('a join token is what `docker swarm join-token` shows', () => {
    const token = `SWMTKN-1-${'a1'.repeat(25)}-${'b2'.repeat(12)}`;
    assert.equal(validate.swarmJoinToken(token), token);
    for (const bad of [
      '',
      'SWMTKN-1-x-y',
      `${token} --x`,
      `${token};id`,
      `SWMTKN-2-${'a'.repeat(30)}-${'b'.repeat(25)}`,
    ]) {
      assert.throws(() => validate.swarmJoinToken(bad), BerthError, bad);
    }
  });
});

describe('validate.registryServer, imageRepo, imageTag (registry:*, BERTH_SWARM_REGISTRY)', () => {
  test('servers: HOST or HOST:PORT, lower-cased, a trailing / dropped', () => {
    assert.equal(validate.registryServer('ghcr.io'), 'ghcr.io');
    assert.equal(
      validate.registryServer('Registry.Example.com:5000/'),
      'registry.example.com:5000',
    );
    assert.equal(validate.registryServer('10.0.0.5:5000'), '10.0.0.5:5000');
    for (const bad of [
      '',
      'https://ghcr.io',
      'ghcr.io/team',
      'ghcr.io:0',
      'ghcr.io:70000',
      '10.0.0.256:5000',
      'user@ghcr.io',
      'ghcr.io;id',
      '-x.io',
      'ghcr.io\n',
      '[::1]:5000',
    ]) {
      refused(() => validate.registryServer(bad));
    }
  });
  test('repositories: lower-case path components, no host, tag or traversal', () => {
    for (const ok of ['berth/api', 'team/sub/api-2', 'a', 'a__b/c.d']) {
      assert.equal(validate.imageRepo(ok), ok);
    }
    for (const bad of [
      '',
      'Team/api',
      'api:1',
      '../x',
      '/api',
      'api/',
      'a//b',
      'a/-b',
      'x'.repeat(201),
    ]) {
      refused(() => validate.imageRepo(bad));
    }
  });
  test('tags: Docker grammar, at most 128', () => {
    for (const ok of ['v1', '20260102T030405-abc', 'latest', '_x', 'A.b-c']) {
      assert.equal(validate.imageTag(ok), ok);
    }
    for (const bad of ['', '.x', '-x', 'a/b', 'a:b', 'a b', 'x'.repeat(129), 'a\n']) {
      refused(() => validate.imageTag(bad));
    }
  });
});
