// A service whose log is a file on a disk that fills up (the router's is
// `<data>/logs/router.log`, its stdout): the lines it cannot write are
// dropped, the process carries on, and once there is room again its lines
// come back, after one saying how many were lost. Before, the first failed
// write threw from process.stdout's error event and killed the process,
// which its supervisor then restarted into the same full disk.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { mountSmallDisk, type SmallDisk } from '../harness/small-disk.ts';
import { until } from '../harness/wait.ts';

const LOG_MODULE = fileURLToPath(new URL('../../services/core/log.ts', import.meta.url));
const scratch = await mkdtemp(path.join(os.tmpdir(), 'berth-disk-full-logs-'));
let disk: SmallDisk | undefined;
let mountError: string | undefined;
try {
  disk = await mountSmallDisk(scratch, 16);
} catch (e) {
  mountError = (e as Error).message;
}
after(async () => {
  await disk?.remove();
  await rm(scratch, { recursive: true, force: true });
});

describe('service logs on a full disk', { skip: mountError }, () => {
  test('a logging process survives the full disk and logs again when space returns', async (t) => {
    assert.ok(disk);
    const file = path.join(disk.dir, 'service.log');
    const out = await open(file, 'a');
    // A line every 5 ms, each numbered, as a busy router would log.
    const script = `
      import { createLogger } from ${JSON.stringify(LOG_MODULE)};
      const log = createLogger('router', { level: 'info' });
      let n = 0;
      setInterval(() => log.info({ n: n++ }, 'request'), 5);
    `;
    const child: ChildProcess = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      { stdio: ['ignore', out.fd, 'pipe'] },
    );
    await out.close();
    let stderr = '';
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    let exit: string | undefined;
    child.on('exit', (code, signal) => {
      exit = `${signal ?? code}`;
    });
    t.after(() => child.kill('SIGKILL'));
    const lines = async () => (await readFile(file, 'utf8')).split('\n').filter(Boolean);
    await until('the first lines', async () => (await lines()).length > 5, 10_000);

    await disk.fill();
    await sleep(1000);
    assert.equal(exit, undefined, `the process died on the full disk: ${stderr}`);
    const whileFull = (await lines()).length;

    await disk.free();
    await until(
      'lines again after the space returned',
      async () => (await lines()).length > whileFull + 5,
      5000,
    );
    assert.equal(exit, undefined, stderr);
    const text = await lines();
    const note = text.find((l) => l.includes('log lines could not be written'));
    assert.ok(note, 'a line says how many were lost');
    assert.match(note, /"msg":"\d+ log lines could not be written \(ENOSPC\) and are lost"/);
    for (const line of text.slice(text.indexOf(note))) JSON.parse(line); // whole JSON lines again
    t.diagnostic(note);
  });
});
