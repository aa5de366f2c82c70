import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  explainDiskFull,
  isRedisDiskFull,
  redisDiskFullCaused,
} from '../../services/core/disk-full.ts';
import { BerthError, errorLine } from '../../services/core/errors.ts';

const misconf = () =>
  new Error(
    'MISCONF Errors writing to the AOF file: No space left on device script: fd97, on @user_script:43.',
  );
const enospc = () =>
  Object.assign(new Error('ENOSPC: no space left on device, write'), {
    code: 'ENOSPC',
    path: '/var/lib/berth/build-logs/shop/b1.log',
  });

describe('a full disk, said in one line', () => {
  test("Redis's refusal names Redis's directory and what to do", () => {
    const e = explainDiskFull(misconf(), '/var/lib/berth/redis');
    assert.ok(e instanceof BerthError);
    assert.equal(e.code, 'BERTH_E_DISK_FULL');
    assert.equal(e.httpStatus, 507);
    assert.equal(
      errorLine(e),
      'no space left on the disk of /var/lib/berth/redis: Redis cannot write its append-only file, so it takes no change; nothing was changed — free space there (df -h /var/lib/berth/redis shows how much is left), then try again; Berth carries on by itself once there is room',
    );
    assert.ok(redisDiskFullCaused(misconf()));
  });

  test('ENOSPC names the file, also as the cause of another error', () => {
    const e = explainDiskFull(new Error('build failed', { cause: enospc() }), undefined);
    assert.match(
      errorLine(e),
      /^no space left on the disk of \/var\/lib\/berth\/build-logs\/shop\/b1.log:/,
    );
  });

  test('anything else, and our own errors, pass through unchanged', () => {
    const other = new Error(
      'MISCONF Redis is configured to save RDB snapshots, but it is currently not able to persist on disk',
    );
    assert.equal(isRedisDiskFull(other), false);
    assert.equal(explainDiskFull(other, '/x'), other);
    const ours = new BerthError('BERTH_E_APP_NOT_FOUND', { app: 'shop' });
    assert.equal(explainDiskFull(ours, '/x'), ours);
    assert.equal(redisDiskFullCaused(ours), false);
  });
});
