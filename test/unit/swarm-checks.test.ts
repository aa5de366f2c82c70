// app.json command checks as a swarm service's health check: the
// HealthConfig made of a check, and exec()'s recognition of that command
// (services/platform/scheduler/swarm-checks.ts); which checks an instance
// carries (instance-spec.ts). The swarm itself: test/integration/swarm-tasks.test.ts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Release } from '../../services/core/store/index.ts';
import { instanceSpec } from '../../services/platform/release/instance-spec.ts';
import { checkOf, healthConfig } from '../../services/platform/scheduler/swarm-checks.ts';

const check = {
  command: ['cat', '/tmp/ready'],
  attempts: 4,
  timeout: 3,
  wait: 0,
  initialDelay: 5,
};

describe('command checks on the swarm', () => {
  test('a check is a health check of its command, with its attempts and times', () => {
    assert.deepEqual(healthConfig(check), {
      Test: ['CMD', 'cat', '/tmp/ready'],
      // At least a second between checks: Swarm's checks go on while the task runs.
      Interval: 1e9,
      Timeout: 3e9,
      Retries: 4,
      StartPeriod: 5e9,
    });
    assert.deepEqual(checkOf(healthConfig(check).Test as string[], ['cat', '/tmp/ready']), {
      output: '',
    });
    assert.equal(
      checkOf(healthConfig(check).Test as string[], ['cat', '/proc/net/tcp']),
      undefined,
    );
    assert.equal(checkOf(undefined, ['cat', '/tmp/ready']), undefined);
  });

  test('content is looked for by a constant script, never put into its text', () => {
    const content = `"; rm -rf / #$(id)`;
    const test = healthConfig({ ...check, content }).Test as string[];
    assert.equal(test[0], 'CMD');
    assert.equal(test[1], '/bin/sh');
    assert.ok(!(test[3] ?? '').includes(content));
    assert.deepEqual(test.slice(-3), [content, 'cat', '/tmp/ready']);
    // exec() of the command answers with the content it was asked to find.
    assert.deepEqual(checkOf(test, ['cat', '/tmp/ready']), { output: content });
    assert.equal(checkOf(test, ['/tmp/ready']), undefined);
  });

  test("an instance carries its type's command checks, not with checks disabled or skipped, nor a one-off", () => {
    const release = {
      app: 'a',
      version: 3,
      image: 'berth/a:1',
      processes: { web: 'serve', worker: 'work' },
      config: {},
      healthchecks: {
        web: [
          { type: 'startup', path: '/' },
          { type: 'startup', command: ['true'] },
        ],
        worker: [{ type: 'startup', path: '/' }],
      },
    } as unknown as Release;
    const settings = {
      storage: [],
      resources: {},
      networks: [],
      portsMap: [],
      portsDetected: [],
    } as never;
    const spec = (type: string, instance: number, more: object = {}) =>
      instanceSpec(release, { ...(settings as object), ...more } as never, {
        type,
        instance,
        port: 5000,
        stopTimeoutSec: 10,
      });
    assert.deepEqual(
      spec('web', 1).commandChecks?.map((c) => c.command),
      [['true']],
    );
    assert.equal(spec('worker', 1).commandChecks, undefined);
    assert.equal(spec('web', 0).commandChecks, undefined);
    assert.equal(spec('web', 1, { checksDisabled: ['web'] }).commandChecks, undefined);
    assert.equal(spec('web', 1, { checksSkipped: ['_all_'] }).commandChecks, undefined);
  });
});
