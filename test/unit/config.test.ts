import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { ConfigError, configToEnv, DEFAULTS, loadConfig } from '../../services/core/config.ts';

const problemsOf = (env: Record<string, string>): string[] => {
  try {
    loadConfig(env);
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    return e.problems.map((p) => p.toLine());
  }
  assert.fail('expected a ConfigError');
};

describe('loadConfig', () => {
  test('an empty environment gives the contract defaults', () => {
    const c = loadConfig({});
    assert.equal(c.dataDir, '/var/lib/berth');
    assert.equal(c.domain, 'localhost');
    assert.equal(c.sshPort, 2222);
    assert.equal(c.httpPort, 80);
    assert.equal(c.httpsPort, 443);
    assert.equal(c.redisUrl, 'redis://127.0.0.1:6379');
    assert.equal(c.redisPrefix, 'berth:');
    assert.equal(c.acmeDirectoryUrl, DEFAULTS.BERTH_ACME_DIRECTORY_URL);
    assert.equal(c.acmeEmail, undefined);
    assert.equal(c.dockerHost, undefined);
    assert.equal(c.buildTimeoutMs, 30 * 60_000);
    assert.equal(c.buildConcurrency, undefined);
    assert.equal(c.imageRetention, 5);
    assert.equal(c.drainTimeoutMs, 30_000);
    assert.equal(loadConfig({ BERTH_DRAIN_TIMEOUT: '0' }).drainTimeoutMs, 0);
    assert.ok(Object.isFrozen(c));
  });

  test('BERTH_HTTP_PORT=abc is one line naming the variable and the value', () => {
    const lines = problemsOf({ BERTH_HTTP_PORT: 'abc' });
    assert.equal(lines.length, 1);
    assert.match(lines[0] ?? '', /^BERTH_HTTP_PORT="abc": not a port number \(1-65535\)/);
    assert.ok(!(lines[0] ?? '').includes('\n'));
  });

  test('every bad value gets its own line', () => {
    const lines = problemsOf({
      BERTH_HTTP_PORT: '70000',
      BERTH_SSH_PORT: '-1',
      BERTH_DATA_DIR: 'relative/dir',
      BERTH_DOMAIN: 'bad_domain!',
      REDIS_URL: 'http://x',
      BERTH_ACME_EMAIL: 'nope',
      BERTH_LOG_LEVEL: 'loud',
    });
    assert.equal(lines.length, 7, lines.join('\n'));
    for (const name of [
      'HTTP_PORT',
      'SSH_PORT',
      'DATA_DIR',
      'DOMAIN',
      'REDIS_URL',
      'ACME_EMAIL',
      'LOG_LEVEL',
    ]) {
      assert.ok(
        lines.some((l) => l.includes(name)),
        name,
      );
    }
  });

  test('two services on one port are refused', () => {
    const lines = problemsOf({ BERTH_HTTP_PORT: '8000', BERTH_HTTPS_PORT: '8000' });
    assert.match(lines[0] ?? '', /BERTH_HTTPS_PORT.*same port as BERTH_HTTP_PORT/);
  });

  test('a value with a newline cannot break the one-line error', () => {
    const lines = problemsOf({ BERTH_DOMAIN: 'a\nb' });
    assert.equal(lines.length, 1);
    assert.ok(!(lines[0] ?? '').includes('\n'));
  });

  test('values are normalized: domain lower-cased, prefix ends with a colon, trailing slash', () => {
    const c = loadConfig({
      BERTH_DOMAIN: 'Example.COM',
      BERTH_REDIS_PREFIX: 'b1',
      BERTH_DATA_DIR: '/srv/berth/',
    });
    assert.equal(c.domain, 'example.com');
    assert.equal(c.redisPrefix, 'b1:');
    assert.equal(c.dataDir, '/srv/berth');
  });

  test('build timeout and concurrency: durations with a unit, auto or a count', () => {
    const c = loadConfig({ BERTH_BUILD_TIMEOUT: '90s', BERTH_BUILD_CONCURRENCY: '3' });
    assert.equal(c.buildTimeoutMs, 90_000);
    assert.equal(c.buildConcurrency, 3);
    assert.equal(loadConfig({ BERTH_BUILD_TIMEOUT: '2h' }).buildTimeoutMs, 7_200_000);
    const lines = problemsOf({
      BERTH_BUILD_TIMEOUT: '30',
      BERTH_BUILD_CONCURRENCY: '0',
    });
    assert.deepEqual(lines, [
      'BERTH_BUILD_TIMEOUT="30": use a number with s, m or h, such as 45m — fix the environment variable and start again',
      'BERTH_BUILD_CONCURRENCY="0": use auto or a number of builds from 1 to 99 — fix the environment variable and start again',
    ]);
    assert.match(problemsOf({ BERTH_BUILD_TIMEOUT: '5s' })[0] ?? '', /between 10s and 24h/);
  });

  test('BERTH_STATUS_HOST: the bare domain by default; a host apps share no cookies with, or refused', () => {
    assert.equal(loadConfig({ BERTH_DOMAIN: 'apps.example.com' }).statusHost, 'apps.example.com');
    const own = loadConfig({
      BERTH_DOMAIN: 'apps.example.com',
      BERTH_STATUS_HOST: 'Berth.Example.NET',
    });
    assert.equal(own.statusHost, 'berth.example.net');
    assert.deepEqual(loadConfig(configToEnv(own)), own);
    // Under the apps' domain (or above it), apps set its cookies: refused, with what to do.
    assert.match(
      problemsOf({
        BERTH_DOMAIN: 'apps.example.com',
        BERTH_STATUS_HOST: 'status.apps.example.com',
      })[0] ?? '',
      /^BERTH_STATUS_HOST="status\.apps\.example\.com": status\.apps\.example\.com is under BERTH_DOMAIN \(apps\.example\.com\), where apps can set its cookies; use a host on another registered domain/,
    );
    assert.match(
      problemsOf({ BERTH_DOMAIN: 'apps.example.com', BERTH_STATUS_HOST: 'example.com' })[0] ?? '',
      /BERTH_DOMAIN \(apps\.example\.com\) is under example\.com, so apps can set its cookies/,
    );
    assert.match(problemsOf({ BERTH_STATUS_HOST: 'not a host' })[0] ?? '', /^BERTH_STATUS_HOST=/);
  });

  test('BERTH_LIVE_STREAMS_PER_USER: 16 by default, 1 to 9999', () => {
    assert.equal(loadConfig({}).liveStreamsPerUser, 16);
    assert.equal(loadConfig({ BERTH_LIVE_STREAMS_PER_USER: '4' }).liveStreamsPerUser, 4);
    for (const bad of ['0', '-1', '10000', 'many']) {
      assert.match(
        problemsOf({ BERTH_LIVE_STREAMS_PER_USER: bad })[0] ?? '',
        /use a number of streams from 1 to 9999/,
        bad,
      );
    }
  });

  test('BERTH_QUOTA_*: a free tier by default, a count or unlimited', () => {
    assert.deepEqual(loadConfig({}).quotas, {
      apps: 25,
      instances: 25,
      processTypes: 20,
      buildMinutes: 120,
      pushSize: 512 * 1024 ** 2,
      disk: 2 * 1024 ** 3,
    });
    const c = loadConfig({
      BERTH_QUOTA_APPS: '0',
      BERTH_QUOTA_INSTANCES: 'unlimited',
      BERTH_QUOTA_PROCESS_TYPES: '1000',
      BERTH_QUOTA_BUILD_MINUTES: '30',
      BERTH_QUOTA_PUSH_SIZE: '200k',
      BERTH_QUOTA_DISK: 'unlimited',
    });
    assert.deepEqual(c.quotas, {
      apps: 0,
      instances: null,
      processTypes: 1000,
      buildMinutes: 30,
      pushSize: 200 * 1024,
      disk: null,
    });
    assert.deepEqual(loadConfig(configToEnv(c)), c);
    for (const bad of ['-1', 'lots', '100001', '1e3', ' 5']) {
      assert.match(
        problemsOf({ BERTH_QUOTA_APPS: bad })[0] ?? '',
        /^BERTH_QUOTA_APPS=".*": use a number from 0 to 100000, or unlimited — /,
        bad,
      );
    }
    assert.match(problemsOf({ BERTH_QUOTA_PROCESS_TYPES: '1001' })[0] ?? '', /from 0 to 1000,/);
    for (const bad of ['1.5g', '2t', 'lots', '-1']) {
      assert.match(
        problemsOf({ BERTH_QUOTA_DISK: bad })[0] ?? '',
        /^BERTH_QUOTA_DISK=".*": use a size in bytes or with k, m or g up to 1024g, such as 512m, or unlimited — /,
        bad,
      );
    }
  });

  test('configToEnv round-trips', () => {
    const c = loadConfig({ BERTH_SSH_PORT: '2022', BERTH_ACME_EMAIL: 'ops@example.com' });
    assert.deepEqual(loadConfig(configToEnv(c)), c);
    const d = loadConfig({
      BERTH_BUILD_TIMEOUT: '600s',
      BERTH_BUILD_CONCURRENCY: '2',
      BERTH_DRAIN_TIMEOUT: '0',
      BERTH_MAX_BODY_SIZE: '0',
      BERTH_ROUTER_HEADERS_TIMEOUT: '90s',
      BERTH_ROUTER_BODY_TIMEOUT: '0',
      BERTH_ROUTER_BIND: '[::1]',
      BERTH_ACME_DEFAULT_HOSTS: 'off',
    });
    assert.deepEqual(loadConfig(configToEnv(d)), d);
  });

  test("the router's bind address: every interface, or one IP address", () => {
    assert.equal(loadConfig({}).routerBind, undefined);
    assert.equal(loadConfig({ BERTH_ROUTER_BIND: 'all' }).routerBind, undefined);
    assert.equal(loadConfig({}).acmeDefaultHosts, true);
    assert.equal(loadConfig({ BERTH_ACME_DEFAULT_HOSTS: 'off' }).acmeDefaultHosts, false);
    assert.match(problemsOf({ BERTH_ACME_DEFAULT_HOSTS: 'no' })[0] ?? '', /use on or off/);
    assert.equal(loadConfig({ BERTH_ROUTER_BIND: '127.0.0.2' }).routerBind, '127.0.0.2');
    assert.equal(loadConfig({ BERTH_ROUTER_BIND: '[2001:db8::1]' }).routerBind, '2001:db8::1');
    for (const bad of ['example.com', '10.0.0.256', '0.0.0.0:80', ' 10.0.0.1']) {
      assert.match(
        problemsOf({ BERTH_ROUTER_BIND: bad })[0] ?? '',
        /^BERTH_ROUTER_BIND=".*": use an IPv4 or IPv6 address/,
        bad,
      );
    }
  });

  test('BERTH_APP_NETWORKS: a private IPv4 range, /8 to /26, written from its first address', () => {
    assert.equal(loadConfig({}).appNetworks, '10.210.0.0/16');
    for (const good of ['172.20.0.0/14', '192.168.64.0/26', '10.0.0.0/8']) {
      assert.equal(loadConfig({ BERTH_APP_NETWORKS: good }).appNetworks, good);
    }
    const bad: [string, RegExp][] = [
      ['10.210.0.0', /use an IPv4 range such as 10\.210\.0\.0\/16/],
      ['10.210.0.0/16,10.211.0.0/16', /use an IPv4 range/],
      ['10.210.010.0/24', /use an IPv4 range/],
      ['10.256.0.0/16', /use an IPv4 range/],
      ['10.210.5.0/16', /a \/16 starts at its first address: 10\.210\.0\.0\/16/],
      ['10.210.0.0/27', /use \/8 to \/26: each app takes a \/26/],
      ['10.0.0.0/7', /use \/8 to \/26/],
      ['8.8.0.0/16', /use a private range/],
      ['172.15.0.0/16', /use a private range/],
    ];
    for (const [value, reason] of bad) {
      const lines = problemsOf({ BERTH_APP_NETWORKS: value });
      assert.equal(lines.length, 1, value);
      assert.match(lines[0] ?? '', /^BERTH_APP_NETWORKS=/, value);
      assert.match(lines[0] ?? '', reason, value);
    }
  });

  test('BERTH_SWARM_MANAGER: a unix socket or tcp://HOST:PORT; BERTH_SWARM_NETWORK a network name', () => {
    const swarm = loadConfig({}).swarm;
    assert.deepEqual(
      { manager: swarm.manager, network: swarm.network, registry: swarm.registry },
      { manager: undefined, network: 'berth-swarm', registry: undefined },
    );
    assert.equal(swarm.registryDir, `${loadConfig({}).dataDir}/registry`);
    for (const good of ['unix:///run/swarm.sock', 'tcp://10.0.0.5:2375', 'tcp://manager-1:2376']) {
      assert.equal(loadConfig({ BERTH_SWARM_MANAGER: good }).swarm.manager, good);
    }
    assert.equal(loadConfig({ BERTH_SWARM_NETWORK: 'apps-overlay' }).swarm.network, 'apps-overlay');
    for (const bad of ['10.0.0.5:2375', 'tcp://10.0.0.5', 'unix://relative.sock', 'ssh://m:22']) {
      const lines = problemsOf({ BERTH_SWARM_MANAGER: bad });
      assert.equal(lines.length, 1, bad);
      assert.match(lines[0] ?? '', /^BERTH_SWARM_MANAGER=.*unix:\/\/\/path\/to\/docker\.sock/, bad);
    }
    assert.equal(problemsOf({ BERTH_SWARM_NETWORK: 'Bad Name' }).length, 1);
    assert.equal(
      loadConfig({ BERTH_SWARM_REGISTRY: '10.0.0.5:5000' }).swarm.registry,
      '10.0.0.5:5000',
    );
    for (const bad of ['10.0.0.5', 'https://10.0.0.5:5000', '10.0.0.5:5000/x', 'a b:5000']) {
      assert.equal(problemsOf({ BERTH_SWARM_REGISTRY: bad }).length, 1, bad);
    }
  });

  test("the router's header timeout and the default body limit", () => {
    const c = loadConfig({});
    assert.equal(c.routerHeadersTimeoutMs, 15_000);
    assert.equal(c.maxBodySize, 100 * 1024 ** 2);
    const d = loadConfig({ BERTH_ROUTER_HEADERS_TIMEOUT: '2s', BERTH_MAX_BODY_SIZE: '512K' });
    assert.equal(d.routerHeadersTimeoutMs, 2000);
    assert.equal(d.maxBodySize, 512 * 1024);
    assert.equal(loadConfig({ BERTH_MAX_BODY_SIZE: '0' }).maxBodySize, 0, '0: no limit');
    assert.match(problemsOf({ BERTH_ROUTER_HEADERS_TIMEOUT: '10m' })[0] ?? '', /use 1s to 5m/);
    assert.equal(c.routerBodyTimeoutMs, 300_000);
    assert.equal(loadConfig({ BERTH_ROUTER_BODY_TIMEOUT: '0' }).routerBodyTimeoutMs, 0, '0: none');
    assert.equal(loadConfig({ BERTH_ROUTER_BODY_TIMEOUT: '90s' }).routerBodyTimeoutMs, 90_000);
    assert.match(problemsOf({ BERTH_ROUTER_BODY_TIMEOUT: '2h' })[0] ?? '', /use 0 or up to 1h/);
    // Node.js refuses a body deadline shorter than the headers' (both count from the start).
    assert.match(
      problemsOf({ BERTH_ROUTER_HEADERS_TIMEOUT: '30s', BERTH_ROUTER_BODY_TIMEOUT: '20s' })[0] ??
        '',
      /^BERTH_ROUTER_BODY_TIMEOUT="20s": use at least BERTH_ROUTER_HEADERS_TIMEOUT \(30s\), or 0/,
    );
    assert.match(
      problemsOf({ BERTH_MAX_BODY_SIZE: '10MB' })[0] ?? '',
      /^BERTH_MAX_BODY_SIZE="10MB": use bytes or a number with k, m or g/,
    );
  });

  describe("builds on the operator's network: CA bundle and proxies", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-ca-config-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const ca = path.join(dir, 'ca.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        path.join(dir, 'ca.key'),
        '-out',
        ca,
        '-days',
        '1',
        '-subj',
        '/CN=Berth test CA',
      ],
      { stdio: 'ignore' },
    );

    test('a PEM bundle is read once at start, its certificates only; off by default', () => {
      assert.deepEqual(loadConfig({}).buildNetwork, {
        caBundle: undefined,
        appCaBundle: false,
        httpProxy: undefined,
        httpsProxy: undefined,
        noProxy: undefined,
      });
      const withNotes = path.join(dir, 'notes.pem');
      writeFileSync(withNotes, `our proxy's CA\n${execFileSync('cat', [ca])}`);
      const c = loadConfig({ BERTH_BUILD_CA_BUNDLE: withNotes, BERTH_APP_CA_BUNDLE: 'on' });
      assert.equal(c.buildNetwork.caBundle?.path, withNotes);
      assert.match(
        c.buildNetwork.caBundle?.pem ?? '',
        /^-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\n$/,
      );
      assert.equal(c.buildNetwork.appCaBundle, true);
      assert.deepEqual(loadConfig(configToEnv(c)), c);
    });

    test('a missing, unreadable, empty, huge or broken bundle stops the start with its reason', () => {
      const bad = (file: string) => problemsOf({ BERTH_BUILD_CA_BUNDLE: file })[0] ?? '';
      assert.match(bad('ca.pem'), /^BERTH_BUILD_CA_BUNDLE="ca.pem": must be an absolute path/);
      assert.match(bad(path.join(dir, 'nope.pem')), /cannot read it \(ENOENT\)/);
      assert.match(bad(dir), /not a file/);
      const empty = path.join(dir, 'empty.pem');
      writeFileSync(empty, 'no certificate here\n');
      assert.match(bad(empty), /holds no PEM certificate/);
      const broken = path.join(dir, 'broken.pem');
      writeFileSync(broken, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
      assert.match(bad(broken), /certificate 1 of 1 is not a valid certificate/);
      const huge = path.join(dir, 'huge.pem');
      writeFileSync(huge, Buffer.alloc(2 * 1024 * 1024, 65));
      assert.match(bad(huge), /larger than 1024 KB/);
      if (process.getuid?.() !== 0) {
        const locked = path.join(dir, 'locked.pem');
        writeFileSync(locked, execFileSync('cat', [ca]));
        chmodSync(locked, 0);
        assert.match(bad(locked), /cannot read it \(EACCES\)/);
      }
      assert.match(
        problemsOf({ BERTH_APP_CA_BUNDLE: 'on' })[0] ?? '',
        /^BERTH_APP_CA_BUNDLE="on": on needs BERTH_BUILD_CA_BUNDLE/,
      );
    });

    test('proxies are http(s) URLs off loopback; NO_PROXY a list of hosts', () => {
      const c = loadConfig({
        BERTH_BUILD_HTTP_PROXY: 'http://172.18.0.1:3128',
        BERTH_BUILD_HTTPS_PROXY: 'http://user:secret@proxy.corp.example:8080',
        BERTH_BUILD_NO_PROXY: 'localhost, .corp.example,10.0.0.0/8,registry:5000',
      });
      assert.equal(c.buildNetwork.httpsProxy, 'http://user:secret@proxy.corp.example:8080');
      assert.equal(c.buildNetwork.noProxy, 'localhost,.corp.example,10.0.0.0/8,registry:5000');
      assert.deepEqual(loadConfig(configToEnv(c)), c);
      assert.match(
        problemsOf({ BERTH_BUILD_HTTPS_PROXY: 'proxy:3128' })[0] ?? '',
        /^BERTH_BUILD_HTTPS_PROXY="proxy:3128": use an http:\/\/ or https:\/\/ URL/,
      );
      assert.match(
        problemsOf({ BERTH_BUILD_HTTP_PROXY: 'http://127.0.0.1:3128' })[0] ?? '',
        /loopback is the build container's own/,
      );
      assert.match(
        problemsOf({ BERTH_BUILD_NO_PROXY: 'a b' })[0] ?? '',
        /"a b" is not a host, domain, address or CIDR/,
      );
    });
  });
});
