// SSH while Berth's Redis is down, with the real ssh service and the OpenSSH
// client: a command answers within seconds with one line saying so. Before,
// the key lookup waited while Redis' client retried (about 20 s), and the
// client then heard only "Permission denied (publickey)".
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { startBenchSshService } from '../bench/ssh-service.ts';
import { opensshArgs } from '../harness/ssh.ts';
import { makeKeyPair } from '../harness/ssh-keys.ts';
import { tempDir } from '../harness/tmp.ts';

const dir = await tempDir('berth-ssh-store-down');
const ada = await makeKeyPair(dir, 'ada');
const service = await startBenchSshService(dir, [
  { name: 'ada', role: 'user', publicLine: ada.publicLine },
]);
after(() => service.stop());
const knownHosts = path.join(dir, 'known_hosts');
await writeFile(knownHosts, `[127.0.0.1]:${service.config.sshPort} ${service.hostKey.publicKey}\n`);

/** `ssh ... command`: its exit code, stderr and wall time. */
function ssh(...command: string[]) {
  const t0 = performance.now();
  const child = spawn(
    'ssh',
    [
      ...opensshArgs({ port: service.config.sshPort, key: ada.privatePath, knownHosts }),
      'berth@127.0.0.1',
      ...command,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const limit = setTimeout(() => child.kill('SIGKILL'), 40_000);
  return new Promise<{ code: number | null; stdout: string; stderr: string; ms: number }>(
    (resolve) =>
      child.on('close', (code) => {
        clearTimeout(limit);
        resolve({ code, stdout, stderr, ms: performance.now() - t0 });
      }),
  );
}

describe('SSH while the store is down', () => {
  test('a command answers within seconds with one line saying Redis does not answer', async (t) => {
    const up = await ssh('version');
    assert.equal(up.code, 0, up.stderr);
    service.killRedis();
    const down = await ssh('apps:list');
    t.diagnostic(`answered in ${Math.round(down.ms)} ms: ${down.stderr.trim()}`);
    assert.equal(down.code, 1);
    assert.match(
      down.stderr,
      /^berth: Berth cannot check who you are right now: its Redis does not answer/m,
    );
    assert.equal(down.stdout, '', 'nothing ran');
    assert.ok(down.ms < 8000, `answered in ${Math.round(down.ms)} ms`);
  });
});
