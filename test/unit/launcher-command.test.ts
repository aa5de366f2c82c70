// How a Procfile command runs in an image, the one rule both schedulers use
// (build/buildpack-build.ts commandFor): a buildpack image's entrypoint is
// Berth's launcher and takes the command as one word; any other image gets
// `sh -c`. The swarm scheduler used to compare with another launcher path,
// so a buildpack image there got `sh -c` split into the launcher's words.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type Docker from 'dockerode';
import {
  commandFor,
  LAUNCHER,
  usesLauncher,
} from '../../services/platform/build/buildpack-build.ts';

const image = (Entrypoint: string[] | null) =>
  ({ Config: { Entrypoint } }) as unknown as Docker.ImageInspectInfo;

test('a buildpack image runs the command through its launcher, as one word', () => {
  assert.ok(usesLauncher(image([...LAUNCHER])));
  assert.deepEqual(commandFor(image([...LAUNCHER]), 'python3 -m http.server "$PORT"'), [
    'python3 -m http.server "$PORT"',
  ]);
});

test('any other image, or one not inspected, gets a shell line', () => {
  for (const i of [image(null), image(['/docker-entrypoint.sh']), undefined]) {
    assert.ok(!usesLauncher(i));
    assert.deepEqual(commandFor(i, 'npm start'), ['/bin/sh', '-c', 'npm start']);
  }
});
