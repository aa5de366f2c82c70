import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as validate from '../../services/core/validate.ts';
import { sshArgs } from '../../services/platform/scheduler/swarm-membership.ts';

describe('nodes:add --ssh', () => {
  test('OpenSSH gets no prompt, a known host key, the destination after -- and the join command as its own words', () => {
    const argv = ['docker', 'swarm', 'join', '--token', 'SWMTKN-1-abc-def', '10.0.0.1:2377'];
    const args = sshArgs(validate.sshTarget('root@[fd00::5]:2222'), argv);
    const end = args.indexOf('--');
    assert.deepEqual(args.slice(end), ['--', 'root@fd00::5', ...argv]);
    const options = args.slice(0, end);
    for (const o of ['BatchMode=yes', 'StrictHostKeyChecking=yes'])
      assert.ok(options.includes(o), o);
    assert.deepEqual(options.slice(options.indexOf('-p'), options.indexOf('-p') + 2), [
      '-p',
      '2222',
    ]);
  });
});
