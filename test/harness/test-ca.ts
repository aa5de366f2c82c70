// A certificate authority of the test's own (openssl), standing for a
// company's TLS-intercepting proxy: its CA certificate, which nothing trusts
// until the operator names it (BERTH_BUILD_CA_BUNDLE), and server
// certificates it signs for an address or name.
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from './tmp.ts';

const run = promisify(execFile);

export interface TestCa {
  /** The CA certificate's file (PEM). */
  certFile: string;
  /** A key and certificate signed by the CA for `hosts` (IP addresses or DNS names). */
  issue(...hosts: string[]): Promise<{ key: string; cert: string }>;
}

export async function makeTestCa(name = 'Berth test intercepting proxy CA'): Promise<TestCa> {
  const dir = await tempDir('berth-test-ca');
  const caKey = path.join(dir, 'ca.key');
  const certFile = path.join(dir, 'ca.pem');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await run('openssl', [
    'req',
    '-x509',
    ...ec,
    '-keyout',
    caKey,
    '-out',
    certFile,
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  let serial = 0;
  return {
    certFile,
    async issue(...hosts) {
      const host = hosts[0] ?? 'localhost';
      const n = ++serial;
      const key = path.join(dir, `server-${n}.key`);
      const csr = path.join(dir, `server-${n}.csr`);
      const cert = path.join(dir, `server-${n}.pem`);
      const ext = path.join(dir, `server-${n}.ext`);
      const san = hosts.map((h) => (/^[0-9.]+$|:/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
      await run('openssl', [
        'req',
        '-new',
        ...ec,
        '-keyout',
        key,
        '-out',
        csr,
        '-subj',
        `/CN=${host}`,
      ]);
      await writeFile(ext, `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`);
      await run('openssl', [
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        certFile,
        '-CAkey',
        caKey,
        '-CAcreateserial',
        '-out',
        cert,
        '-days',
        '2',
        '-extfile',
        ext,
      ]);
      return { key: await readFile(key, 'utf8'), cert: await readFile(cert, 'utf8') };
    },
  };
}
