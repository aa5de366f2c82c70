// git push deploy main, as a user does it: `npm start` (with its builder),
// the real OpenSSH client and real git against Berth's SSH port, the real
// Docker Engine building the app. Also the command line over the same path:
// hostile input, permissions, the laptop client.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { dataPaths } from '../../services/core/paths.ts';
import { removeAppFromEngine, testDocker } from '../harness/docker.ts';
import { platformKnownHosts, SERVE_ON_PORT, startPlatform } from '../harness/platform.ts';
import { opensshCommand } from '../harness/ssh.ts';
import { makeKeyPair } from '../harness/ssh-keys.ts';
import { tempDir } from '../harness/tmp.ts';

const execFileP = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BERTH = path.join(ROOT, 'cli/bin/berth.js');
// Runs ssh with one remote command line exactly as given (escapes like \n
// turned into the real characters), without a local shell in between.
const SSH_ARGV = path.join(ROOT, 'test/fixtures/ssh-exec.mjs');

function run(file: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env) {
  return new Promise<{ code: number; out: string; lines: { at: number; text: string }[] }>(
    (resolve) => {
      const child = spawn(file, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
      const lines: { at: number; text: string }[] = [];
      let out = '';
      const take = (d: Buffer) => {
        out += d;
        for (const text of d.toString().split('\n'))
          if (text.trim()) lines.push({ at: Date.now(), text: text.trimEnd() });
      };
      child.stdout.on('data', take);
      child.stderr.on('data', take);
      child.on('close', (code) => resolve({ code: code ?? 1, out, lines }));
    },
  );
}

describe('git push over SSH to a running Berth', () => {
  test('push deploys with the build output live; a failing build rejects the push; the laptop client works', async (t) => {
    const dir = await tempDir();
    const dataDir = path.join(dir, 'data');
    const admin = await makeKeyPair(dir, 'admin');
    const stranger = await makeKeyPair(dir, 'stranger');
    const p = await startPlatform({ dataDir, env: { BERTH_ADMIN_PUBKEY: admin.publicPath } });
    t.after(async () => {
      await p.stop();
      await p.stopRedis();
    });
    const port = p.env.BERTH_SSH_PORT ?? '';
    const knownHosts = await platformKnownHosts(p, path.join(dir, 'known_hosts'));
    const sshOpts = (key: string) => opensshCommand({ key, knownHosts });

    // ssh berth@HOST version, with the real OpenSSH client.
    const version = await run(
      'sh',
      ['-c', `${sshOpts(admin.privatePath)} -p ${port} berth@127.0.0.1 version`],
      dir,
    );
    assert.equal(version.code, 0, version.out);
    assert.match(version.out, /^berth \d+\.\d+\.\d+\n$/);
    const refused = await run(
      'sh',
      ['-c', `${sshOpts(stranger.privatePath)} -p ${port} berth@127.0.0.1 version`],
      dir,
    );
    assert.equal(refused.code, 255);
    assert.match(refused.out, /Permission denied \(publickey\)/);

    // An app's checkout with a deploy remote.
    // A name of this run's own: the images are berth/<app>:*, on a shared Engine.
    const app = `shop${randomBytes(3).toString('hex')}`;
    t.after(async () => removeAppFromEngine((await testDocker()).docker, app));
    const work = path.join(dir, app);
    const git = (...args: string[]) => execFileP('git', args, { cwd: work });
    await execFileP('git', ['init', '-q', '-b', 'main', work]);
    await git('config', 'user.email', 'dev@example.com');
    await git('config', 'user.name', 'Dev');
    await git('config', 'core.sshCommand', sshOpts(admin.privatePath));
    await git('remote', 'add', 'deploy', `ssh://berth@127.0.0.1:${port}/${app}`);
    // A step that prints over a second and a half, to see the lines arrive live.
    await writeFile(
      path.join(work, 'Dockerfile'),
      `FROM debian:bookworm-slim\nRUN for i in 1 2 3 4 5 6; do echo "step $i"; sleep 0.3; done\nCOPY index.js /app/\n${SERVE_ON_PORT}\n`,
    );
    await writeFile(path.join(work, 'index.js'), 'console.log("hi")\n');
    await git('add', '.');
    await git('commit', '-qm', 'first');

    const push = await run('git', ['push', 'deploy', 'main'], work);
    assert.equal(push.code, 0, push.out);
    const remote = push.lines.filter((l) => /^remote: +step [1-6]/.test(l.text));
    assert.equal(remote.length, 6, push.out);
    assert.ok(
      push.lines.some((l) => l.text.startsWith('remote: -----> ')),
      push.out,
    );
    // Live: the build's lines arrived over time, not all at the end.
    const spread = (remote.at(-1)?.at ?? 0) - (remote[0]?.at ?? 0);
    assert.ok(spread >= 1000, `remote lines arrived within ${spread} ms`);
    t.diagnostic(`first push: ${remote.length} build lines over ${spread} ms`);

    // The laptop client, in the checkout: the app comes from the deploy remote.
    const info = await run(process.execPath, [BERTH, 'apps:info'], work);
    assert.equal(info.code, 0, info.out);
    assert.match(info.out, new RegExp(`=====> ${app} app information`));
    assert.match(info.out, /Owner:\s+admin/);

    // Hostile input over the real SSH path: one line each, nothing created or run.
    const bob = await makeKeyPair(dir, 'bob');
    const added = await run(
      'sh',
      [
        '-c',
        `${sshOpts(admin.privatePath)} -p ${port} berth@127.0.0.1 ssh-keys:add bob < ${bob.publicPath}`,
      ],
      dir,
    );
    assert.equal(added.code, 0, `ssh-keys:add: ${added.out}`);
    const asBob = (command: string) =>
      run(process.execPath, [SSH_ARGV, sshOpts(bob.privatePath), port, command], dir);
    const cases: [string, number, RegExp][] = [
      ["apps:create 'app;id'", 2, /^berth: invalid app name "app;id"/],
      ['apps:create $(id)', 2, /^berth: invalid app name "\$\(id\)"/],
      ['apps:create -rf', 2, /^berth: Unknown option '-r'/],
      [`apps:create ${'a'.repeat(200)}`, 2, /^berth: invalid app name .*at most 63 characters/],
      ['apps:create Shop', 2, /^berth: invalid app name "Shop"/],
      ['apps:create \u0430pp', 2, /^berth: invalid app name/],
      ['apps:list\nid', 2, /^berth: the command line contains a newline/],
      ['apps:explode', 2, /^berth: unknown command "apps:explode"/],
      ['ssh-keys:add eve', 1, /^berth: ssh-keys:add is for admins/],
      [`apps:destroy ${app} --force`, 1, new RegExp(`^berth: app "${app}" does not exist`)],
      ["git-receive-pack '../../etc'", 2, /^berth: invalid repository "..\/..\/etc"/],
      ["git-receive-pack '/etc/passwd'", 2, /^berth: invalid repository "\/etc\/passwd"/],
      [`git-receive-pack '${app}'`, 1, new RegExp(`^berth: app "${app}" does not exist`)],
    ];
    for (const [command, code, message] of cases) {
      const r = await asBob(command);
      assert.equal(r.code, code, `${command}: ${r.out}`);
      assert.equal(r.out.trim().split('\n').length, 1, `${command}: ${r.out}`);
      assert.match(r.out, message, command);
    }
    // A collaborator may push but not destroy.
    await run(
      'sh',
      ['-c', `${sshOpts(admin.privatePath)} -p ${port} berth@127.0.0.1 access:add ${app} bob`],
      dir,
    );
    const destroy = await asBob(`apps:destroy ${app} --force`);
    assert.equal(destroy.code, 1);
    assert.match(
      destroy.out,
      new RegExp(`^berth: destroying app "${app}" is for its owner and admins`),
    );
    const repos = await readdir(dataPaths(dataDir).repos);
    assert.deepEqual(
      repos.filter((r) => !r.startsWith('.')),
      [`${app}.git`],
    );

    // A build that fails rejects the push: non-zero exit, the ref is not moved.
    await writeFile(
      path.join(work, 'Dockerfile'),
      'FROM debian:bookworm-slim\nRUN echo compiling && exit 3\n',
    );
    await git('commit', '-qam', 'broken');
    const failed = await run('git', ['push', 'deploy', 'main'], work);
    assert.notEqual(failed.code, 0, failed.out);
    assert.match(
      failed.out,
      /Dockerfile:2: RUN echo compiling && exit 3.*returned a non-zero code: 3/,
    );
    assert.match(failed.out, /\[remote rejected\] main -> main/);
    const { stdout: serverMain } = await execFileP('git', [
      `--git-dir=${path.join(dataPaths(dataDir).repos, `${app}.git`)}`,
      'rev-parse',
      'main',
    ]);
    const { stdout: firstCommit } = await git('rev-parse', 'HEAD~1');
    assert.equal(serverMain.trim(), firstCommit.trim());
  });
});
