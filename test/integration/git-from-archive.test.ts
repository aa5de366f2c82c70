// git:from-archive (issue 20): a tar of the app's files on stdin becomes a
// commit on its deploy branch, made by real tar and read back by real git;
// hostile archives (.., absolute paths, links out, a hard link, a file
// below a link, a FIFO, a zip or a URL) are refused in one line with nothing
// written anywhere. No builder runs here: the command then ends with
// BERTH_E_NO_BUILDER, after the commit, which is what is checked.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { loadConfig } from '../../services/core/config.ts';
import { dataPaths } from '../../services/core/paths.ts';
import { Store } from '../../services/core/store/index.ts';
import { repoDir } from '../../services/platform/git/repos.ts';
import { commandRunner, userActor } from '../harness/commands.ts';
import { testGitEnv } from '../harness/git.ts';
import { prefixSnapshot, redisClient, testPrefix } from '../harness/redis.ts';
import { tempDir } from '../harness/tmp.ts';

const exec = promisify(execFile);
const prefix = testPrefix();
const redis = await redisClient(prefix);
const store = new Store(redis, prefix);
const bob = userActor('bob');
const eve = userActor('eve');
const scratch = await tempDir('berth-from-archive');
const dataDir = path.join(scratch, 'data');
const run = commandRunner(
  store,
  loadConfig({ BERTH_DOMAIN: 'berth.test', BERTH_DATA_DIR: dataDir }),
);
const repo = () => repoDir(dataPaths(dataDir), 'arch');
const git = (...args: string[]) =>
  exec('git', ['--git-dir', repo(), ...args], { env: testGitEnv() }).then((r) => r.stdout.trim());
const headRev = () => git('rev-parse', '--verify', '--quiet', 'refs/heads/main').catch(() => '');

/** tar -cf of `dir`'s contents (or `args` as given), as a file's bytes. */
async function tarOf(cwd: string, args: string[]): Promise<Buffer> {
  const out = path.join(scratch, `t-${Math.random().toString(36).slice(2)}.tar`);
  await exec('tar', ['-cf', out, ...args], { cwd });
  return readFile(out);
}

/** A tar made by Python's tarfile, for entries GNU tar will not write as given. */
async function pyTar(script: string): Promise<Buffer> {
  const out = path.join(scratch, `p-${Math.random().toString(36).slice(2)}.tar`);
  await exec('python3', [
    '-c',
    `import tarfile, io\nt = tarfile.open(${JSON.stringify(out)}, 'w')\ndef f(name, data=b'x', **kw):\n    i = tarfile.TarInfo(name)\n    for k, v in kw.items(): setattr(i, k, v)\n    i.size = len(data) if i.isreg() else 0\n    t.addfile(i, io.BytesIO(data) if i.isreg() else None)\n${script}\nt.close()`,
  ]);
  return readFile(out);
}

// The operator allows this loopback server as a buildpack URL prefix (BERTH_BUILDPACK_URLS).
let server: Server;
let served = '';
let allowedRun: ReturnType<typeof commandRunner>;
let archiveBytes: Buffer = Buffer.alloc(0);

before(async () => {
  server = createServer((req, res) => {
    if (req.url === '/app.tar') res.end(archiveBytes);
    else if (req.url === '/redirect')
      res.writeHead(302, { location: 'http://169.254.169.254/app.tar' }).end();
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  served = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  allowedRun = commandRunner(
    store,
    loadConfig({
      BERTH_DOMAIN: 'berth.test',
      BERTH_DATA_DIR: dataDir,
      BERTH_BUILDPACK_URLS: `public-https,${served}`,
    }),
  );
  for (const u of [bob, eve]) if (u.kind === 'user') await store.users.create(u.user, u.role);
  await store.apps.create({ name: 'arch', owner: 'bob' });
});

after(() => new Promise<void>((resolve) => server?.close(() => resolve())));

describe('git:from-archive', () => {
  test('a tar on stdin becomes a commit on the deploy branch, its top folder dropped; the same again: no change', async () => {
    const src = path.join(scratch, 'src', 'app-1.0.0');
    await mkdir(path.join(src, 'bin'), { recursive: true });
    await writeFile(path.join(src, 'index.html'), 'hello\n');
    await writeFile(path.join(src, 'bin', 'run'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
    await symlink('index.html', path.join(src, 'default.html'));
    const archive = await tarOf(path.join(scratch, 'src'), ['app-1.0.0']);
    const r = await run(
      bob,
      ['git:from-archive', 'arch', '--', 'Camila', 'camila@example.com'],
      archive,
    );
    assert.match(r.stdout, /-----> 2 files from the archive are [0-9a-f]{7} on main of arch\n/);
    assert.match(r.stderr, /builder/i, 'no builder here: the commit is what is checked');
    const files = await git('ls-tree', '-r', '--format=%(objectmode) %(path)', 'refs/heads/main');
    assert.equal(files, '100755 bin/run\n120000 default.html\n100644 index.html');
    assert.equal(
      await git('log', '-1', '--format=%an <%ae>', 'refs/heads/main'),
      'Camila <camila@example.com>',
    );
    const first = await headRev();
    const again = await run(bob, ['git:from-archive', 'arch'], archive);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /No changes: main of arch already holds these files/);
    assert.equal(await headRev(), first);
    // gzipped: the same files, so nothing to do either.
    const gz = path.join(scratch, 'a.tar.gz');
    await exec('tar', ['-czf', gz, 'app-1.0.0'], { cwd: path.join(scratch, 'src') });
    const zipped = await run(
      bob,
      ['git:from-archive', '--archive-type', 'tar.gz', 'arch'],
      await readFile(gz),
    );
    assert.match(zipped.stdout, /No changes/);
    // By URL (allowed by the operator here): a changed file is a new commit.
    await writeFile(path.join(src, 'index.html'), 'hello again\n');
    archiveBytes = await tarOf(path.join(scratch, 'src'), ['app-1.0.0']);
    const byUrl = await allowedRun(bob, ['git:from-archive', 'arch', `${served}app.tar`]);
    assert.match(
      byUrl.stdout,
      /-----> 2 files from the archive are [0-9a-f]{7} on main of arch\n/,
      byUrl.stderr,
    );
    assert.equal(await git('show', 'refs/heads/main:index.html'), 'hello again');
    assert.equal(
      await git('rev-parse', 'refs/heads/main^'),
      first,
      'the previous commit is its parent',
    );
  });

  test('hostile archives and arguments: one line, nothing committed, nothing written outside', async () => {
    const outside = path.join(scratch, 'outside');
    await mkdir(path.join(scratch, 'in'), { recursive: true });
    await writeFile(outside, 'secret\n');
    await symlink('/etc/passwd', path.join(scratch, 'in', 'passwd'));
    await writeFile(path.join(scratch, 'in', 'f'), 'x');
    await exec('ln', [path.join(scratch, 'in', 'f'), path.join(scratch, 'in', 'g')]);
    await exec('mkfifo', [path.join(scratch, 'in', 'pipe')]);
    const head = await headRev();
    const refused = async (
      argv: string[],
      stdin: Buffer | string,
      pattern: RegExp,
      code = 2,
      actor = bob,
      runner = run,
    ) => {
      const before = await prefixSnapshot(redis, prefix);
      const r = await runner(actor, argv, stdin);
      assert.equal(r.code, code, `${argv.join(' ')} ${pattern}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, pattern);
      assert.equal(await prefixSnapshot(redis, prefix), before);
      assert.equal(await headRev(), head, 'nothing committed');
    };
    const cmd = ['git:from-archive', 'arch'];
    await refused(
      cmd,
      await tarOf(path.join(scratch, 'in'), ['-P', '../outside']),
      /leaves the archive \(".."\)/,
    );
    await refused(cmd, await tarOf(scratch, ['-P', outside]), /is an absolute path/);
    await refused(
      cmd,
      await tarOf(path.join(scratch, 'in'), ['passwd']),
      /points outside the archive/,
    );
    await refused(cmd, await tarOf(path.join(scratch, 'in'), ['f', 'g']), /is a hard link/);
    await refused(
      cmd,
      await tarOf(path.join(scratch, 'in'), ['pipe']),
      /not a file, folder or link/,
    );
    await refused(
      cmd,
      await pyTar(
        "f('s', type=tarfile.SYMTYPE, linkname='.')\nf('s/t/l', type=tarfile.SYMTYPE, linkname='../../x')",
      ),
      /below a link/,
    );
    await refused(
      cmd,
      await pyTar("f('up', type=tarfile.SYMTYPE, linkname='../../etc')"),
      /points outside/,
    );
    await refused(
      cmd,
      await pyTar("f('a', type=tarfile.SYMTYPE, linkname='b')\nf('a', b'overwrite')"),
      /a link and another entry/,
    );
    await refused(
      cmd,
      await pyTar("f('.git/hooks/post-update', b'#!/bin/sh')"),
      /inside a \.git folder/,
    );
    await refused(cmd, await pyTar("f('x\\x1b[31m', b'x')"), /control characters/);
    await refused(cmd, 'PK\u0003\u0004 not a tar', /not a tar archive/);
    await refused(cmd, '', /not a tar archive/);
    await refused(
      [...cmd.slice(0, 1), '--archive-type', 'zip', 'arch'],
      'x',
      /Berth reads tar and gzipped tar/,
    );
    await refused(
      [...cmd, 'http://169.254.169.254/x'],
      '',
      /invalid archive URL .*use an https:\/\/ URL/,
    );
    await refused(
      [...cmd, 'https://127.0.0.1/app.tar'],
      '',
      /127\.0\.0\.1 is an address of this server/,
    );
    await refused([...cmd, 'https://[::1]/app.tar'], '', /is an address of this server/);
    await refused([...cmd, 'file:///etc/passwd'], '', /use an https:\/\/ URL/);
    await refused(
      [...cmd, 'https://localhost/app.tar'],
      '',
      /^berth: the archive cannot be deployed: https:\/\/localhost\/app\.tar: its host localhost resolves to .*an address of this server/,
    );
    // Allowed by the operator (as a buildpack URL prefix), but a redirect is not followed.
    await refused([...cmd, `${served}redirect`], '', /it redirects \(302\)/, 2, bob, allowedRun);
    await refused([...cmd, `${served}missing`], '', /the server answered 404/, 2, bob, allowedRun);
    await refused(
      [...cmd, 'Camila\nX', 'a@example.com'],
      await tarOf(path.join(scratch, 'in'), ['f']),
      /invalid git user name/,
    );
    await refused(
      [...cmd, 'Camila', 'not-an-email'],
      await tarOf(path.join(scratch, 'in'), ['f']),
      /invalid e-mail/,
    );
    await refused(cmd, await tarOf(path.join(scratch, 'in'), ['f']), /does not exist/, 1, eve);
    // Nothing of the repository's folder is left but the repository itself.
    const leftovers = (await readdir(path.dirname(repo()))).filter((n) =>
      n.startsWith('.archive-'),
    );
    assert.deepEqual(leftovers, []);
  });
});
