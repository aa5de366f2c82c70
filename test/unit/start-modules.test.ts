// What each Berth process loads at start (issue 17: memory). A module, once
// loaded, stays for the life of the process, so a package that only one rare
// path needs is imported where that path runs (`await import(...)`), and the
// router processes, one per CPU, load only what serving needs. Checked on
// the bundles' static import graph, as infra/build.mjs compiles them.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import * as esbuild from 'esbuild';
import { ENTRIES, ROOT } from '../../infra/build.mjs';
import { IDLE_HEAP_OPTIONS } from '../../services/core/runtime.ts';

/** The npm packages each entry imports statically, through every chunk it loads. */
async function startPackages(): Promise<Map<string, Set<string>>> {
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: [...ENTRIES],
    outdir: '/nonexistent',
    outbase: '.',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    metafile: true,
    write: false,
    logLevel: 'silent',
  });
  const outputs = result.metafile?.outputs ?? {};
  const byEntry = new Map<string, Set<string>>();
  for (const [name, out] of Object.entries(outputs)) {
    if (out.entryPoint === undefined) continue;
    const seen = new Set<string>();
    const packages = new Set<string>();
    const walk = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const i of outputs[file]?.imports ?? []) {
        if (i.kind === 'dynamic-import') continue;
        if (!i.external) walk(i.path);
        else if (!i.path.startsWith('node:')) packages.add(i.path);
      }
    };
    walk(name);
    byEntry.set(out.entryPoint, packages);
  }
  return byEntry;
}

test('router processes and their primary load no X.509 library (prepare makes the fallback certificate)', async () => {
  const packages = await startPackages();
  for (const entry of ['proxy/worker.ts', 'proxy/main.ts']) {
    const loaded = packages.get(entry);
    assert.ok(loaded, `${entry} is bundled`);
    assert.ok(!loaded.has('@peculiar/x509'), `${entry}: ${[...loaded].join(' ')}`);
  }
});

test('the ssh process loads neither a Docker client nor BullMQ until a command or push needs it', async () => {
  const ssh = (await startPackages()).get('services/ssh/main.ts');
  assert.ok(ssh, 'services/ssh/main.ts is bundled');
  assert.ok(!ssh.has('dockerode'), [...ssh].join(' '));
  assert.ok(!ssh.has('bullmq'), [...ssh].join(' '));
});

test('no process loads the S3 client at start: only a backup to a bucket does', async () => {
  for (const [entry, loaded] of await startPackages()) {
    assert.ok(!loaded.has('aws4fetch'), `${entry}: ${[...loaded].join(' ')}`);
  }
});

test("npm start runs the supervisor with the waiting processes' Node.js options (IDLE_HEAP_OPTIONS)", async () => {
  const { scripts } = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8'));
  assert.match(
    scripts.start,
    new RegExp(`&& node ${IDLE_HEAP_OPTIONS.join(' ')} infra/run\\.mjs start$`),
    'package.json\'s "start" and infra/systemd/unit.ts start the supervisor alike',
  );
});
