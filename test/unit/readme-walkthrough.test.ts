// The reader of README.md's walkthrough (test/harness/readme-walkthrough.ts):
// the README's marked blocks parse, and the output check tells a README line
// that drifted from one that only differs in its numbers.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { missingOutput, readWalkthrough } from '../harness/readme-walkthrough.ts';

const README = fileURLToPath(new URL('../../README.md', import.meta.url));

describe('the README walkthrough reader', () => {
  test("README.md's walkthrough parses: npm start first, then commands and the Dockerfile", async () => {
    const steps = readWalkthrough(await readFile(README, 'utf8'));
    assert.equal(steps[0]?.kind, 'start');
    assert.ok(steps.some((s) => s.kind === 'file' && s.name === 'Dockerfile'));
    const lines = steps.flatMap((s) => ('commands' in s ? s.commands.map((c) => c.line) : []));
    assert.ok(lines.includes('git push deploy main'), lines.join('\n'));
  });

  test('a marker not followed by a code block is an error, not a smaller walkthrough', () => {
    assert.throws(() => readWalkthrough('<!-- walkthrough: laptop -->\ntext\n'), /README.md:1:/);
  });

  test('numbers, hashes and fingerprints may differ; words may not; "..." skips lines', () => {
    const expected = [
      'added key SHA256:Wpf1naI3klDVm+LbDHiqcOsGQQ1WwGjieXu7B8wkJUo (ssh-ed25519) for new user admin (admin)',
      '...',
      'remote: -----> Built berth/hello:mx1dfrm85d5e3091 (0.5 s)',
      'remote: -----> Releasing v1 of hello',
      '       http://berth.example.com/auth/login/Jm0u4nE1...',
    ];
    const actual = [
      'added key SHA256:FGAPkyY7pbpdGv/iXY9OrcEeBQzg5i550L2lnen19k0 (ssh-ed25519) for new user admin (admin)',
      'remote:        Step 1/6 : FROM debian:bookworm-slim',
      'remote: -----> Built berth/hello:mxdvxlhd47816729 (2.4 s)        ',
      'remote: -----> Releasing v1 of hello',
      '       http://berth.example.com/auth/login/TwKQCflJxwiNjnxrPCmEg3FZj4ETPiAZdsu8LO_uN9o',
    ];
    assert.equal(missingOutput(expected, actual), undefined);
    // A line of the README the command no longer prints is named.
    const drifted = [...actual];
    drifted[3] = 'remote: -----> Rolling out v1 of hello';
    assert.equal(missingOutput(expected, drifted), 'remote: -----> Releasing v1 of hello');
    // Lines shown together must come together: a line in between is drift.
    const between = [...actual.slice(0, 3), 'remote: something new', ...actual.slice(3)];
    assert.equal(missingOutput(expected, between), 'remote: -----> Releasing v1 of hello');
  });
});
