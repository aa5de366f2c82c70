// The compile `npm start` runs before anything else (infra/build.mjs): every
// process entry is bundled, a changed source gets a new bundle (stale output
// never runs), and a compile leaves no half-written directory behind.
import assert from 'node:assert/strict';
import { cp, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { asciiComments } from '../../infra/ascii-source.mjs';
import { ENTRIES, ensureBuild, ROOT, sourceHash } from '../../infra/build.mjs';
import { SERVICES } from '../../infra/supervisor.ts';
import { tempDir } from '../harness/tmp.ts';

/** A copy of what the bundles are made from, to change freely. */
async function sourceTree(): Promise<string> {
  const dir = await tempDir('berth-build');
  for (const d of ['services', 'proxy', 'cli', 'infra']) {
    await cp(path.join(ROOT, d), path.join(dir, d), { recursive: true });
  }
  for (const f of ['package.json', 'package-lock.json', 'tsconfig.json']) {
    await cp(path.join(ROOT, f), path.join(dir, f));
  }
  // The bundles include the npm packages: the compile reads them from here.
  await symlink(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  return dir;
}

test('every process Berth starts has a bundle', () => {
  for (const s of SERVICES) assert.ok(ENTRIES.includes(s.entry), s.entry);
  for (const e of ['proxy/worker.ts', 'cli/main.ts', 'infra/prepare-main.ts'])
    assert.ok(ENTRIES.includes(e), e);
});

test('a changed source or lock file compiles to a new directory; the old one goes unless in use', async () => {
  const root = await sourceTree();
  const lines: string[] = [];
  const first = await ensureBuild({ root, log: (l: string) => lines.push(l) });
  for (const e of ENTRIES) await stat(path.join(first, e.replace(/\.ts$/, '.js')));
  assert.equal(lines.length, 2, 'compiled, and said so');
  assert.equal(await ensureBuild({ root }), first, 'unchanged sources: the same bundle');

  const before = sourceHash(root);
  await writeFile(path.join(root, 'services/core/version.ts'), '\n// changed\n', { flag: 'a' });
  assert.notEqual(sourceHash(root), before);
  const second = await ensureBuild({ root });
  assert.notEqual(second, first);
  // Nothing runs the old bundle; no temporary directory is left.
  assert.deepEqual(await readdir(path.join(root, '.build')), [path.basename(second)]);

  // One a running process claimed (the supervisor, whose command line names no bundle) stays.
  await ensureBuild({ root, claim: true });
  await writeFile(path.join(root, 'package-lock.json'), '\n', { flag: 'a' });
  const third = await ensureBuild({ root });
  assert.notEqual(third, second, 'a new lock file: a new bundle');
  assert.deepEqual(
    (await readdir(path.join(root, '.build'))).sort(),
    [path.basename(second), path.basename(third)].sort(),
  );
});

test("the bundles include npm packages, but not dockerode's BuildKit gRPC and protobuf code, and are ASCII", async () => {
  const root = await sourceTree();
  const dir = await ensureBuild({ root });
  const files = (await readdir(dir, { recursive: true })).filter((f) => f.endsWith('.js'));
  const text = (await Promise.all(files.map((f) => readFile(path.join(dir, f), 'utf8')))).join(
    '\n',
  );
  // Bundled, not imported from node_modules at run time.
  assert.match(text, /^\/\/ .*node_modules\/fastify\//m);
  assert.doesNotMatch(text, /^\/\/ .*node_modules\/(@grpc|protobufjs)\//m);
  assert.match(text, /BuildKit support \(build version '2'\) is left out/);
  // One character that is not ASCII would make V8 keep a file's source at two bytes a character.
  for (const f of files) {
    const code = await readFile(path.join(dir, f), 'utf8');
    assert.doesNotMatch(code, /[^\x00-\x7f]/, `${f} is not ASCII`);
  }
});

test("comments are escaped to ASCII; strings and a tagged template's text are not touched", () => {
  const code = [
    '// idle 148.8 → 139.7 MB — measured',
    "const a = '\\u2014'; /* café */ const b = html`—`;",
    'const r = /\\/\\/ not a comment/;',
  ].join('\n');
  const out = asciiComments(code);
  assert.equal(
    out.code,
    [
      '// idle 148.8 \\u2192 139.7 MB \\u2014 measured',
      "const a = '\\u2014'; /* caf\\u00e9 */ const b = html`—`;",
      'const r = /\\/\\/ not a comment/;',
    ].join('\n'),
  );
  assert.equal(out.left, 1, "the tagged template's character is left, and counted");
  assert.deepEqual(asciiComments('const x = 1;'), { code: 'const x = 1;', left: 0 });
});
