import assert from 'node:assert/strict';
import { test } from 'node:test';
import { splitCommandLine } from '../../cli/command-line.ts';
import { parseRemoteUrl, quoteWord, remoteArgv, sshArgs } from '../../cli/remote.ts';
import { BerthError } from '../../services/core/errors.ts';

test('remote URLs: ssh:// and scp-like, with or without .git', () => {
  assert.deepEqual(parseRemoteUrl('ssh://berth@paas.example.com:2222/api'), {
    user: 'berth',
    host: 'paas.example.com',
    port: 2222,
    app: 'api',
  });
  assert.deepEqual(parseRemoteUrl('ssh://berth@[::1]:2222/api.git'), {
    user: 'berth',
    host: '::1',
    port: 2222,
    app: 'api',
  });
  assert.deepEqual(parseRemoteUrl('berth@myberth:shop.git'), {
    user: 'berth',
    host: 'myberth',
    port: undefined,
    app: 'shop',
  });
  for (const bad of [
    'https://github.com/x/y.git',
    'berth@host:../../etc',
    'ssh://berth@-oProxyCommand=x:22/app',
    'nohost',
  ]) {
    assert.throws(() => parseRemoteUrl(bad), BerthError, bad);
  }
});

test('the app from the remote goes first for app commands, unless --app names another', () => {
  const remote = parseRemoteUrl('ssh://berth@h:2222/api');
  assert.deepEqual(remoteArgv(['apps:info'], remote), ['apps:info', 'api']);
  assert.deepEqual(remoteArgv(['git:set', 'deploy-branch', 'prod'], remote), [
    'git:set',
    'api',
    'deploy-branch',
    'prod',
  ]);
  assert.deepEqual(remoteArgv(['apps:create'], remote), ['apps:create', 'api']);
  assert.deepEqual(remoteArgv(['apps:info', '--app', 'web'], remote), ['apps:info', 'web']);
  assert.deepEqual(remoteArgv(['apps:list'], remote), ['apps:list']);
  assert.deepEqual(remoteArgv(['help', 'apps'], remote), ['help', 'apps']);
  // --platform: about BERTH_DOMAIN, no app (the server refuses one).
  assert.deepEqual(remoteArgv(['certs:add', '--platform'], remote), ['certs:add', '--platform']);
  assert.deepEqual(remoteArgv(['letsencrypt:enable'], remote), ['letsencrypt:enable', 'api']);
  // run's words are the command's own: -a there is ls's, --app only before them.
  assert.deepEqual(remoteArgv(['run', 'ls', '-a'], remote), ['run', 'api', 'ls', '-a']);
  assert.deepEqual(remoteArgv(['run', '--app', 'web', 'ls', '-a'], remote), [
    'run',
    'web',
    'ls',
    '-a',
  ]);
});

test('words survive the trip through ssh: quoted here, split the same on the server', () => {
  const words = ['config:set', 'api', "A=it's a b", 'B=$(id)', 'C=`x`;y', 'D=', 'plain-word_1'];
  assert.deepEqual(splitCommandLine(words.map(quoteWord).join(' ')), words);
  assert.deepEqual(sshArgs(parseRemoteUrl('ssh://berth@h:2222/api'), ['version']), [
    '-p',
    '2222',
    'berth@h',
    '--',
    'version',
  ]);
});

test('a terminal is asked for (ssh -t) only for a command that owns it, and only from a terminal', () => {
  const remote = parseRemoteUrl('berth@h:api');
  assert.deepEqual(sshArgs(remote, ['run', 'api', 'bash'], true).slice(0, 2), ['-t', 'berth@h']);
  assert.equal(sshArgs(remote, ['run', 'api', 'bash'], false)[0], 'berth@h');
  assert.equal(sshArgs(remote, ['apps:info', 'api'], true)[0], 'berth@h');
});
