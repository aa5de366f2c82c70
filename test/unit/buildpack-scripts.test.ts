// The buildpack scripts that need nothing but sh and files, run on this
// machine: detect, release, and package.json checking with this Node.js (20,
// 22 or 24: their JSON.parse messages differ). The builds themselves run in
// the stack image: test/integration/buildpacks.test.ts.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../harness/tmp.ts';

const BUILDPACKS = fileURLToPath(new URL('../../buildpacks', import.meta.url));

function script(buildpack: string, name: string, ...args: string[]) {
  const r = spawnSync(path.join(BUILDPACKS, buildpack, 'bin', name), args, { encoding: 'utf8' });
  return { code: r.status, out: r.stdout + r.stderr };
}

/** An app directory holding `files` (path → content; executable when the path ends in *). */
async function app(files: Record<string, string>): Promise<string> {
  const dir = await tempDir('berth-app');
  for (const [name, text] of Object.entries(files)) {
    const file = path.join(dir, name.replace(/\*$/, ''));
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, text);
    if (name.endsWith('*')) await chmod(file, 0o755);
  }
  return dir;
}

const release = (web: string | undefined) =>
  web === undefined
    ? '---\ndefault_process_types: {}\n'
    : `---\ndefault_process_types:\n  web: ${web}\n`;

describe('buildpack scripts', () => {
  test('package.json errors name the line and column on every Node.js version', async () => {
    const dir = await app({ 'package.json': '{\n  "name": "x"\n  "version": "1.0.0"\n}\n' });
    const r = spawnSync(
      process.execPath,
      [path.join(BUILDPACKS, 'node/lib/package-json.cjs'), 'check', path.join(dir, 'package.json')],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 1);
    assert.equal(
      r.stdout,
      "Expected ',' or '}' after property value in JSON at position 18 (line 3 column 3)\n",
    );
  });

  test('node release: the start script through npm, else node server.js, else nothing', async () => {
    const runtime = { '.heroku/node/bin/.keep': '' };
    const withNode = async (files: Record<string, string>) => {
      const dir = await app({ ...runtime, ...files });
      await symlink(process.execPath, path.join(dir, '.heroku/node/bin/node'));
      return dir;
    };
    const started = await withNode({
      'package.json': '{"scripts":{"start":"node index.js"}}',
      'server.js': '',
    });
    assert.deepEqual(script('node', 'release', started), { code: 0, out: release('npm start') });
    const server = await withNode({ 'package.json': '{}', 'server.js': '' });
    assert.deepEqual(script('node', 'release', server), {
      code: 0,
      out: release('node server.js'),
    });
    const none = await withNode({ 'package.json': '{"scripts":{"build":"x"}}' });
    assert.deepEqual(script('node', 'release', none), { code: 0, out: release(undefined) });
  });

  test('python release: gunicorn for a module defining app when installed, else the script', async () => {
    const gunicorn = { '.venv/bin/gunicorn*': '#!/bin/sh\n' };
    const cases: [Record<string, string>, string | undefined][] = [
      [
        { ...gunicorn, 'wsgi.py': 'from app import app\n', 'app.py': 'app = 1\n' },
        'gunicorn app:app',
      ],
      [{ ...gunicorn, 'wsgi.py': 'app: Flask = make()\n' }, 'gunicorn wsgi:app'],
      [{ ...gunicorn, 'app.py': 'def main(): pass\n' }, 'python app.py'],
      [{ 'app.py': 'app = Flask(__name__)\n' }, 'python app.py'],
      [{ 'main.py': '' }, 'python main.py'],
      [{ 'requirements.txt': '' }, undefined],
    ];
    for (const [files, web] of cases) {
      const r = script('python', 'release', await app(files));
      assert.deepEqual(r, { code: 0, out: release(web) }, JSON.stringify(files));
    }
  });

  test('static and procfile releases', async () => {
    const dir = await app({ Procfile: 'web: x\n' });
    assert.deepEqual(script('static', 'release', dir), {
      code: 0,
      out: release('/app/.berth-static/start'),
    });
    assert.deepEqual(script('procfile', 'release', dir), { code: 0, out: release(undefined) });
  });

  test('detect: which files make whose app', async () => {
    const cases: [Record<string, string>, string[]][] = [
      [{ 'package.json': '{}' }, ['node']],
      [{ 'requirements.txt': '' }, ['python']],
      [{ 'pyproject.toml': '' }, ['python']],
      [{ 'setup.py': '' }, ['python']],
      // Claimed so that compile can say Pipenv is not supported.
      [{ Pipfile: '' }, ['python']],
      [{ 'index.html': '' }, ['static']],
      [{ 'public/index.html': '' }, ['static']],
      [{ Procfile: 'web: x\n' }, ['procfile']],
      [{ 'package.json': '{}', 'index.html': '', Procfile: '' }, ['node', 'static', 'procfile']],
      [{ 'README.md': '' }, []],
      [{ 'go.mod': 'module x\n', Procfile: '' }, ['go', 'procfile']],
      [{ Gemfile: '', 'package.json': '{}' }, ['ruby', 'node']],
      [{ 'composer.json': '{}' }, ['php']],
      [{ 'index.php': '', 'index.html': '' }, ['php', 'static']],
    ];
    for (const [files, expected] of cases) {
      const dir = await app(files);
      const claimed = ['ruby', 'node', 'python', 'php', 'go', 'static', 'procfile'].filter(
        (bp) => script(bp, 'detect', dir).code === 0,
      );
      assert.deepEqual(claimed, expected, Object.keys(files).join(' '));
    }
  });

  test('procfile compile lists the process types and installs nothing', async () => {
    const dir = await app({ Procfile: '# comment\nweb: ./serve --port $PORT\r\nworker: ./work\n' });
    const r = script('procfile', 'compile', dir, '/nonexistent', '/nonexistent');
    assert.deepEqual(r, {
      code: 0,
      out: [
        '-----> Procfile declares types -> web, worker',
        '       web: ./serve --port $PORT',
        '       worker: ./work',
        '-----> Nothing to install: the processes run on the stack image as they are',
        '',
      ].join('\n'),
    });
  });
});
