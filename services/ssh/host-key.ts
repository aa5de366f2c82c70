// The SSH server's host key: one ed25519 key under the data directory, made
// on the first start and read on every later one, so clients never see "host
// key changed". It is written to a temporary file first and linked into place,
// so a crash never leaves half a key and two processes starting at once end up
// with the same one.
import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import ssh2 from 'ssh2';
import { syncDir } from '../core/durable-file.ts';
import { BerthError } from '../core/errors.ts';
import { fingerprint } from '../core/ssh-key.ts';

/** The key's file name inside the directory (the public half is beside it, `.pub`). */
export const HOST_KEY_FILE = 'ssh_host_ed25519_key';

export interface HostKey {
  /** The private key in OpenSSH format, as ssh2's Server takes it. */
  privateKey: string;
  /** "ssh-ed25519 BASE64", as a known_hosts line has it after the host. */
  publicKey: string;
  /** SHA256:..., as `ssh-keygen -lf` and the client's first-connection prompt print it. */
  fingerprint: string;
  path: string;
  /** True when this call made the key. */
  created: boolean;
  /** True when the file was readable by others and this call made it 0600 again. */
  tightened: boolean;
}

const generateOnce = (comment: string) =>
  new Promise<ssh2.utils.KeyPairReturn>((resolve, reject) =>
    ssh2.utils.generateKeyPair('ed25519', { comment }, (err, pair) =>
      err ? reject(err) : resolve(pair),
    ),
  );

// "ssh-ed25519" and the 32-byte key, each with its 4-byte length.
const ED25519_BLOB_LENGTH = 4 + 11 + 4 + 32;

/**
 * A new ed25519 key in OpenSSH format. ssh2's generator strips leading zero
 * bytes from the public key, so about 1 key in 256 comes out malformed
 * (ssh2 1.17): such a key is thrown away and another one made. A key is kept
 * only when it parses, has a 32-byte public key and signs what its public
 * half verifies.
 */
export async function generateEd25519Key(comment: string): Promise<string> {
  for (let attempt = 0; attempt < 16; attempt++) {
    const { private: text } = await generateOnce(comment);
    const key = ssh2.utils.parseKey(text);
    if (key instanceof Error || key.getPublicSSH().length !== ED25519_BLOB_LENGTH) continue;
    const probe = randomBytes(32);
    const publicOnly = ssh2.utils.parseKey(`ssh-ed25519 ${key.getPublicSSH().toString('base64')}`);
    if (publicOnly instanceof Error) continue;
    if ((publicOnly.verify(probe, key.sign(probe)) as boolean | Error) !== true) continue;
    return text;
  }
  throw new Error('could not make a valid ed25519 key');
}

const unusable = (file: string, reason: string, cause?: unknown) =>
  new BerthError('BERTH_E_HOST_KEY', { path: file, reason }, { cause });

function parse(file: string, text: string): { publicKey: string; fingerprint: string } {
  // ssh2 may answer with an array for the OpenSSH format (one key per file today).
  const parsed: ssh2.ParsedKey | ssh2.ParsedKey[] | Error = ssh2.utils.parseKey(text);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (key === undefined || key instanceof Error) {
    throw unusable(file, key instanceof Error ? key.message : 'no key in the file');
  }
  if (!key.isPrivateKey()) throw unusable(file, 'it holds a public key, not a private one');
  if (key.type !== 'ssh-ed25519') throw unusable(file, `it holds a ${key.type} key, not ed25519`);
  const blob = key.getPublicSSH();
  return { publicKey: `${key.type} ${blob.toString('base64')}`, fingerprint: fingerprint(blob) };
}

async function writeFileSynced(file: string, text: string, mode: number): Promise<void> {
  const handle = await open(file, 'wx', mode);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function readKey(file: string): Promise<HostKey | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw unusable(file, (e as Error).message, e);
  }
  const { publicKey, fingerprint: fp } = parse(file, text);
  // sshd refuses a host key others can read; Berth puts the mode right instead.
  const mode = (await stat(file)).mode & 0o777;
  let tightened = false;
  if ((mode & 0o077) !== 0) {
    await chmod(file, 0o600);
    tightened = true;
  }
  return {
    privateKey: text,
    publicKey,
    fingerprint: fp,
    path: file,
    created: false,
    tightened,
  };
}

/**
 * Reads the host key in `dir`, or makes one (ed25519, mode 0600) when there
 * is none. BERTH_E_HOST_KEY when the file exists but is not a usable key: it
 * is never replaced silently, since every client would then refuse to connect.
 */
export async function loadOrCreateHostKey(dir: string): Promise<HostKey> {
  const file = path.join(dir, HOST_KEY_FILE);
  const existing = await readKey(file);
  if (existing) return existing;

  await mkdir(dir, { recursive: true, mode: 0o700 });
  const privateKey = await generateEd25519Key('berth host key');
  const { publicKey, fingerprint: fp } = parse(file, privateKey);
  const tmp = path.join(dir, `.${HOST_KEY_FILE}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFileSynced(tmp, privateKey, 0o600);
    try {
      // link, not rename: it fails when another process made the key meanwhile.
      await link(tmp, file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const theirs = await readKey(file);
      if (theirs) return theirs;
      throw e;
    }
    await syncDir(dir);
  } catch (e) {
    if (e instanceof BerthError) throw e;
    throw unusable(file, (e as Error).message, e);
  } finally {
    await rm(tmp, { force: true });
  }
  // The public half, for operators (ssh-keygen -lf, known_hosts); the server never reads it.
  const pub = `${file}.pub`;
  await rm(pub, { force: true });
  await writeFileSynced(pub, `${publicKey} berth host key\n`, 0o644).catch(() => undefined);
  return {
    privateKey,
    publicKey,
    fingerprint: fp,
    path: file,
    created: true,
    tightened: false,
  };
}
