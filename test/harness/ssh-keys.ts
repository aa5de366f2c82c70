// Real key pairs made by ssh-keygen, as a user would make them.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface KeyPair {
  privatePath: string;
  publicPath: string;
  /** The .pub file's line, without the newline. */
  publicLine: string;
  /** SHA256:..., as ssh-keygen -lf prints it. */
  fingerprint: string;
}

export async function makeKeyPair(dir: string, name: string, type = 'ed25519'): Promise<KeyPair> {
  const privatePath = path.join(dir, name);
  await run('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', `${name}@test`, '-f', privatePath]);
  const publicPath = `${privatePath}.pub`;
  const { stdout } = await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', publicPath]);
  const fingerprint = stdout.split(' ')[1] ?? '';
  return {
    privatePath,
    publicPath,
    publicLine: (await readFile(publicPath, 'utf8')).trim(),
    fingerprint,
  };
}
