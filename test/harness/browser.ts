// Headless Chromium for browser tests: Debian's `chromium` package (which
// `npm test` installs when it is missing, test/run.ts) driven by
// playwright-core. Never a browser build of Playwright's own: nothing but
// Debian's packages and npm can be fetched on these machines.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
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

const AXE_SOURCE = readFileSync(
  createRequire(import.meta.url).resolve('axe-core/axe.min.js'),
  'utf8',
);

/** One of axe-core's findings, as much of it as a failure message needs. */
interface AxeFinding {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/**
 * Runs axe-core (WCAG 2.1 A and AA, and its best practices) on the page as
 * it is, in light and in dark mode, and fails on any serious or critical
 * violation, naming the rule and the elements.
 */
export async function assertAccessible(page: Page, what: string): Promise<void> {
  await page.addScriptTag({ content: AXE_SOURCE });
  for (const colorScheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme });
    const violations = (await page.evaluate(async () => {
      const axe = (
        globalThis as unknown as { axe: { run(o: unknown): Promise<{ violations: unknown[] }> } }
      ).axe;
      const result = await axe.run({
        runOnly: {
          type: 'tag',
          values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'],
        },
      });
      return result.violations;
    })) as AxeFinding[];
    const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    assert.deepEqual(
      bad.map(
        (v) =>
          `${v.id} (${v.impact}): ${v.help}: ${v.nodes
            .map((n) => n.target.join(' '))
            .slice(0, 5)
            .join(', ')}`,
      ),
      [],
      `${what} in ${colorScheme} mode`,
    );
  }
  await page.emulateMedia({ colorScheme: 'light' });
}

/** A full-page screenshot with the system's dark mode on (the stylesheet follows it). */
export async function screenshotDark(page: Page, file: string): Promise<void> {
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.screenshot({ path: file, fullPage: true });
  await page.emulateMedia({ colorScheme: 'light' });
}
