// Pebble, Let's Encrypt's test CA (Debian's package), as the ACME server of
// a test: its own listener certificate (made with openssl), and
// pebble-challtestsrv as its DNS server, answering every name with
// 127.0.0.1, so that test domains such as shop.example.test resolve to the
// router. Pebble sends its HTTP-01 checks to `httpPort` (the router's).
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports.ts';

const run = promisify(execFile);

export interface Pebble {
  /** The ACME directory URL (BERTH_ACME_DIRECTORY_URL). */
  directoryUrl: string;
  /** pebble-challtestsrv's DNS server (host:port), which answers every name with 127.0.0.1. */
  dnsServer: string;
  /** The CA certificate of Pebble's own HTTPS listener. */
  listenerCaFile: string;
  /**
   * For NODE_EXTRA_CA_CERTS of the processes that talk to Pebble: the
   * listener's certificate added to whatever this process trusts that way
   * already (this machine's own bundle, say), which replacing it would lose.
   */
  extraCaCertsFile: string;
  /** Pebble's issuing root, written to a file (for curl --cacert). */
  rootFile(): Promise<string>;
  stop(): Promise<void>;
}

function get(url: string, ca: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

function started(child: ChildProcess, name: string, log: string[]) {
  child.stdout?.on('data', (d: Buffer) => log.push(`${name}: ${d}`));
  child.stderr?.on('data', (d: Buffer) => log.push(`${name}: ${d}`));
}

export async function startPebble(o: {
  /** The router's HTTP port, where Pebble checks HTTP-01 challenges. */
  httpPort: number;
  /** Lifetime of the certificates it issues, in seconds. */
  validitySeconds?: number;
}): Promise<Pebble> {
  // Removed by stop(), not by the test runner: a before() hook's after() would run at once.
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-pebble-'));
  const cert = path.join(dir, 'listener.pem');
  const key = path.join(dir, 'listener-key.pem');
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '2',
    '-subj',
    '/CN=localhost',
    '-addext',
    'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ]);
  const [acmePort, mgmtPort, dnsPort, dnsMgmtPort] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  const configFile = path.join(dir, 'pebble.json');
  await writeFile(
    configFile,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${acmePort}`,
        managementListenAddress: `127.0.0.1:${mgmtPort}`,
        certificate: cert,
        privateKey: key,
        httpPort: o.httpPort,
        tlsPort: 5001,
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
        ...(o.validitySeconds ? { certificateValidityPeriod: o.validitySeconds } : {}),
      },
    }),
  );
  const log: string[] = [];
  const dns = spawn(
    'pebble-challtestsrv',
    [
      '-defaultIPv4',
      '127.0.0.1',
      '-defaultIPv6',
      '',
      '-dns01',
      `127.0.0.1:${dnsPort}`,
      '-http01',
      '',
      '-https01',
      '',
      '-tlsalpn01',
      '',
      '-management',
      `127.0.0.1:${dnsMgmtPort}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  started(dns, 'challtestsrv', log);
  const pebble = spawn('pebble', ['-config', configFile, '-dnsserver', `127.0.0.1:${dnsPort}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // No random sleep before checks, no nonces rejected on purpose.
    env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0' },
  });
  started(pebble, 'pebble', log);
  const stop = async () => {
    for (const child of [pebble, dns]) {
      if (child.exitCode === null) {
        child.kill('SIGKILL');
        await new Promise((r) => child.once('exit', r));
      }
    }
    await rm(dir, { recursive: true, force: true });
  };
  const ca = await readFile(cert);
  const extraCaCertsFile = path.join(dir, 'extra-ca-certs.pem');
  const inherited = process.env.NODE_EXTRA_CA_CERTS
    ? await readFile(process.env.NODE_EXTRA_CA_CERTS, 'utf8').catch(() => '')
    : '';
  await writeFile(extraCaCertsFile, `${inherited.trimEnd()}\n${ca.toString()}`);
  const directoryUrl = `https://127.0.0.1:${acmePort}/dir`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    const answer = await get(directoryUrl, ca).catch(() => undefined);
    if (answer?.status === 200) break;
    if (Date.now() > deadline || pebble.exitCode !== null) {
      await stop();
      throw new Error(`pebble did not start:\n${log.join('')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    directoryUrl,
    dnsServer: `127.0.0.1:${dnsPort}`,
    listenerCaFile: cert,
    extraCaCertsFile,
    async rootFile() {
      const root = await get(`https://127.0.0.1:${mgmtPort}/roots/0`, ca);
      const file = path.join(dir, 'root.pem');
      await writeFile(file, root.body);
      return file;
    },
    stop,
  };
}
