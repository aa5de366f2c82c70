// Headless Chromium for browser tests: Debian's `chromium` package (which
// `npm test` installs when it is missing, test/run.ts) driven by
// playwright-core. Never a browser build of Playwright's own: nothing but
// Debian's packages and npm can be fetched on these machines.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium } from 'playwright-core';
import { findProgram, systemSearchPath } from '../../services/core/programs.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Flags for a browser that only talks to loopback: no GPU on these VMs, no
 * sandbox (the tests run as root, which Chromium's sandbox refuses), and
 * none of the background fetches, updates and sync a fresh profile starts
 * (the machines reach no such service, and the attempts would only add noise).
 */
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Debian's Chromium, headless. The caller closes it (in an after() of a test
 * or the file). `loopbackDomains`: names that the browser resolves, with
 * every name under them, to 127.0.0.1 (Chromium's own resolver rules), as a
 * wildcard DNS record would point them at the server: a test's BERTH_DOMAIN
 * such as berth.test, whose status page and apps the router serves.
 */
export async function launchChromium(o: { loopbackDomains?: string[] } = {}): Promise<Browser> {
  const executablePath = await findProgram('chromium', systemSearchPath(process.env.PATH));
  if (executablePath === undefined) {
    throw new Error(
      'chromium is not installed: `npm test` installs it (Debian package chromium); or apt-get install -y chromium',
    );
  }
  const rules = (o.loopbackDomains ?? []).flatMap((d) => [
    `MAP ${d} 127.0.0.1`,
    `MAP *.${d} 127.0.0.1`,
  ]);
  const args = [...CHROMIUM_ARGS];
  if (rules.length > 0) args.push(`--host-resolver-rules=${rules.join(',')}`);
  return chromium.launch({ executablePath, headless: true, args });
}

/**
 * Where tests write screenshots: $BERTH_TEST_ARTIFACTS, else test/artifacts/
 * in the checkout (git ignores it). Created when missing.
 */
export async function artifactsDir(): Promise<string> {
  const own = process.env.BERTH_TEST_ARTIFACTS;
  const dir = own === undefined || own === '' ? path.join(ROOT, 'test', 'artifacts') : own;
  await mkdir(dir, { recursive: true });
  return path.resolve(dir);
}
