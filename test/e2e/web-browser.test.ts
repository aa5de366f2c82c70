// The status page in a real browser (issue 7's first acceptance point):
// headless Chromium (Debian's, driven by playwright-core) against `npm start`,
// with users, apps and pushes made over SSH by the real OpenSSH client and
// git. The browser reaches the pages as owners do: through Berth's router at
// the bare BERTH_DOMAIN. Two users each own an app, so "only one's own apps"
// is seen both ways. Alice signs in through an auth:login link, opens her
// app, starts a `git push` and watches its build log lines arrive on the
// build page, then rolls back from the page and sees the release change (and
// the router serve the old release's content), tails the runtime log, and
// signs out. The web
// service is killed on the way, once under the build's page and once under
// the runtime log's tail (the supervisor starts it again): both must carry
// on by themselves, no line twice. Screenshots go to artifactsDir().
//
// Also measured in the page (same machine clock everywhere): when each build
// log line appears in the DOM (a MutationObserver in the page) against when
// the builder wrote it to the build's Redis stream (the entry's id is Redis'
// clock at XADD) and against when the Dockerfile step printed it (its own
// `date +%s%3N`); and the apps page's load from the browser's navigation timing.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { Redis } from 'ioredis';
import type { Page } from 'playwright-core';
import { buildLogKey } from '../../services/platform/build/queue.ts';
import {
  artifactsDir,
  assertAccessible,
  launchChromium,
  screenshotDark,
} from '../harness/browser.ts';
import { newTestRunId, removeAppFromEngine, testDocker } from '../harness/docker.ts';
import {
  platformKnownHosts,
  SERVE_ON_PORT,
  servicesOf,
  startPlatform,
} from '../harness/platform.ts';
import { request } from '../harness/router.ts';
import { opensshArgs, opensshCommand } from '../harness/ssh.ts';
import { makeKeyPair } from '../harness/ssh-keys.ts';
import { tempDir } from '../harness/tmp.ts';

/** Lines the watched build's Dockerfile step prints, one every TICK_MS. */
const TICKS = 20;
const TICK_MS = 400;
/** The line after which the web service is killed under the build's page. */
const KILL_AFTER = 12;
/** A build log line that would run script if a page took it for HTML. */
const HOSTILE = '<img src=x onerror="window.__berthXss=1">';
/** BERTH_DOMAIN, which the browser resolves to 127.0.0.1. */
const DOMAIN = 'berth.test';
/** How long a condition may take before the test fails (a busy 2-core machine). */
const WAIT_MS = 60_000;

interface Ran {
  code: number | null;
  out: string;
}

/** Runs a program to its end; `stdinFile` becomes its standard input. */
async function runProgram(
  file: string,
  args: string[],
  o: { cwd?: string; stdinFile?: string } = {},
): Promise<Ran> {
  const input = o.stdinFile === undefined ? undefined : await open(o.stdinFile, 'r');
  try {
    const child = spawn(file, args, {
      cwd: o.cwd,
      stdio: [input?.fd ?? 'ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d;
    });
    child.stderr?.on('data', (d: Buffer) => {
      out += d;
    });
    return await new Promise((resolve) => child.on('close', (code) => resolve({ code, out })));
  } finally {
    await input?.close();
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
};
const figures = (xs: number[]) =>
  `median ${median(xs).toFixed(0)} ms, max ${Math.max(...xs).toFixed(0)} ms over ${xs.length} lines`;

/**
 * Records, in the page, every text node added to #log and when (Date.now(),
 * in the MutationObserver's callback, a microtask after the append). A string,
 * not a function: tsx's transform may wrap functions with helpers the page
 * does not have. It watches the document from before any parsing, so no line
 * the live script adds can slip by.
 */
const RECORD_LOG_LINES = `
window.__berthLines = [];
new MutationObserver(function (records) {
  var at = Date.now();
  records.forEach(function (r) {
    if (r.target.id !== 'log') return;
    r.addedNodes.forEach(function (n) {
      if (n.nodeType === Node.TEXT_NODE) window.__berthLines.push({ at: at, text: n.data });
    });
  });
}).observe(document, { childList: true, subtree: true });
`;

/** An element's text (the DOM's textContent: the pages need no layout to be read). */
const textOf = async (page: Page, selector: string) =>
  (await page.locator(selector).textContent()) ?? '';

/** The navigation timing of the page's last load, in ms from its start. */
async function loadTiming(page: Page) {
  return page.evaluate(`(() => {
    const n = performance.getEntriesByType('navigation')[0];
    return { ttfb: n.responseStart - n.requestStart, response: n.responseEnd - n.startTime,
             dcl: n.domContentLoadedEventEnd - n.startTime, load: n.loadEventEnd - n.startTime };
  })()`) as Promise<{ ttfb: number; response: number; dcl: number; load: number }>;
}

describe('the status page in headless Chromium', () => {
  test('sign in by link, only own apps, a push live on the build page, rollback from the page', async (t) => {
    // Where the test's time goes, printed at the end (it shares 2 cores with other files).
    const phases: string[] = [];
    let last = performance.now();
    const phase = (name: string) => {
      const now = performance.now();
      phases.push(`${name} ${((now - last) / 1000).toFixed(1)} s`);
      last = now;
    };
    const dir = await tempDir('berth-browser');
    const shots = await artifactsDir();
    const admin = await makeKeyPair(dir, 'admin');
    const alice = await makeKeyPair(dir, 'alice');
    const bob = await makeKeyPair(dir, 'bob');
    const dataDir = path.join(dir, 'data');
    const p = await startPlatform({
      dataDir,
      // A rollback's old instances stop at once: nothing is serving them here.
      env: {
        BERTH_ADMIN_PUBKEY: admin.publicPath,
        // The pages as owners reach them: through the router, at the bare domain.
        BERTH_DOMAIN: DOMAIN,
        BERTH_DRAIN_TIMEOUT: '0',
      },
    });
    t.after(async () => {
      await p.stop();
      await p.stopRedis();
    });
    const sshPort = p.env.BERTH_SSH_PORT ?? '';
    const routerPort = Number(p.env.BERTH_HTTP_PORT);
    /** Kills the process the web runs in (control); the supervisor starts it again within seconds. */
    const killWeb = async () => {
      const pids = await servicesOf(dataDir, 'control');
      assert.ok(pids.length > 0, 'the web service runs');
      for (const pid of pids) process.kill(pid, 'SIGKILL');
    };
    const knownHosts = await platformKnownHosts(p, path.join(dir, 'known_hosts'));
    const ssh = (key: string, args: string[], stdinFile?: string) =>
      runProgram(
        'ssh',
        [...opensshArgs({ port: sshPort, key, knownHosts }), 'berth@127.0.0.1', ...args],
        stdinFile === undefined ? {} : { stdinFile },
      );
    const must = async (r: Promise<Ran>, what: string) => {
      const done = await r;
      assert.equal(done.code, 0, `${what}: ${done.out}`);
      return done.out;
    };

    phase('platform');
    // Two users (not admins: an admin sees every app), each with an app.
    // Names of this run's own: the images are berth/<app>:*, on a shared Engine.
    const suffix = randomBytes(3).toString('hex');
    const aliceApp = `shop${suffix}`;
    const bobApp = `blog${suffix}`;
    t.after(async () => {
      const { docker } = await testDocker();
      for (const app of [aliceApp, bobApp]) await removeAppFromEngine(docker, app);
    });
    await must(ssh(admin.privatePath, ['ssh-keys:add', 'alice'], alice.publicPath), 'add alice');
    await must(ssh(admin.privatePath, ['ssh-keys:add', 'bob'], bob.publicPath), 'add bob');
    await must(ssh(alice.privatePath, ['apps:create', aliceApp]), 'alice apps:create');
    await must(ssh(bob.privatePath, ['apps:create', bobApp]), 'bob apps:create');

    // Alice's checkout; its first push (v1) over SSH before the browser looks.
    const work = path.join(dir, aliceApp);
    const git = (...args: string[]) => runProgram('git', args, { cwd: work });
    await must(runProgram('git', ['init', '-q', '-b', 'main', work]), 'git init');
    await must(git('config', 'user.email', 'alice@example.com'), 'git config');
    await must(git('config', 'user.name', 'Alice'), 'git config');
    await must(
      git('config', 'core.sshCommand', opensshCommand({ key: alice.privatePath, knownHosts })),
      'git config',
    );
    await must(
      git('remote', 'add', 'deploy', `ssh://berth@127.0.0.1:${sshPort}/${aliceApp}`),
      'git remote',
    );
    const runId = newTestRunId();
    const commit = async (marker: string, steps: string[]) => {
      await writeFile(path.join(work, 'index.html'), `${marker}\n`);
      // The run's id keeps Docker's cache (shared with other tests) off these steps.
      await writeFile(
        path.join(work, 'Dockerfile'),
        [
          'FROM debian:bookworm-slim',
          `ENV BERTH_TEST_RUN=${runId}`,
          ...steps,
          'WORKDIR /srv',
          'COPY index.html /srv/',
          SERVE_ON_PORT,
          '',
        ].join('\n'),
      );
      await must(git('add', '.'), 'git add');
      await must(git('commit', '-qm', marker), 'git commit');
      return (await must(git('rev-parse', 'HEAD'), 'rev-parse')).trim();
    };
    await commit('release one', []);
    await must(git('push', 'deploy', 'main'), 'first push');

    phase('users, apps, first push');
    const browser = await launchChromium({ loopbackDomains: [DOMAIN] });
    t.after(() => browser.close());
    // auth:login's link: the bare domain through the router (no certificate: plain HTTP).
    const base = `http://${DOMAIN}:${routerPort}`;
    /** A browser profile of its own, signed in through an auth:login link the key's user asked for. */
    const signIn = async (key: string) => {
      const link = JSON.parse(
        await must(ssh(key, ['auth:login', '--format', 'json']), 'auth:login'),
      );
      assert.ok(link.url.startsWith(`${base}/auth/login/`), link.url);
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      page.setDefaultTimeout(WAIT_MS);
      // The link's page only shows a button (a scanner's GET uses nothing
      // up); pressing it posts the form that signs in and leads on to /.
      const shown = await page.goto(link.url);
      assert.equal(shown?.status(), 200);
      await assertAccessible(page, 'the sign-in page');
      const [landed] = await Promise.all([
        page.waitForNavigation(),
        page.getByRole('button', { name: /^Sign in as / }).click(),
      ]);
      return { page, url: link.url as string, landed };
    };

    phase('Chromium');
    // Sign-in: the link leads to the apps page, which lists Alice's app only.
    const a = await signIn(alice.privatePath);
    assert.equal(a.landed?.status(), 200);
    assert.equal(a.page.url(), `${base}/`);
    await a.page.getByRole('link', { name: aliceApp, exact: true }).waitFor();
    assert.equal(await a.page.getByText(bobApp).count(), 0, "Bob's app is not on Alice's page");
    assert.match(await textOf(a.page, 'header'), /alice/);
    // Loads of the apps page as the browser times them (the first warms up the connection).
    const loads: Awaited<ReturnType<typeof loadTiming>>[] = [];
    for (let i = 0; i < 6; i++) {
      await a.page.reload();
      loads.push(await loadTiming(a.page));
    }
    loads.shift();
    t.diagnostic(
      `apps page in Chromium (1 app, ${loads.length} loads): ` +
        `first byte median ${median(loads.map((l) => l.ttfb)).toFixed(1)} ms, ` +
        `response end ${median(loads.map((l) => l.response)).toFixed(1)} ms, ` +
        `DOMContentLoaded ${median(loads.map((l) => l.dcl)).toFixed(1)} ms, ` +
        `load ${median(loads.map((l) => l.load)).toFixed(1)} ms (max ${Math.max(...loads.map((l) => l.load)).toFixed(1)})`,
    );
    await a.page.screenshot({ path: path.join(shots, 'apps-page.png'), fullPage: true });
    await assertAccessible(a.page, 'the apps page');
    await screenshotDark(a.page, path.join(shots, 'apps-page-dark.png'));
    // The account page: a token made there is shown once.
    await a.page.getByRole('link', { name: 'Account' }).click();
    await a.page.getByRole('button', { name: 'Create token' }).click();
    assert.match(await textOf(a.page, '#new-token-secret'), /^berth_[A-Za-z0-9_-]{43}$/);
    await assertAccessible(a.page, 'the account page');
    await a.page.goto(`${base}/`);

    // Bob, in another profile: his app only; Alice's is a 404 as a missing app is.
    const b = await signIn(bob.privatePath);
    await b.page.getByRole('link', { name: bobApp, exact: true }).waitFor();
    assert.equal(await b.page.getByText(aliceApp).count(), 0, "Alice's app is not on Bob's page");
    assert.equal((await b.page.goto(`${base}/apps/${aliceApp}`))?.status(), 404);
    assert.equal(await b.page.getByText('release one').count(), 0);
    assert.equal((await a.page.goto(`${base}/apps/${bobApp}`))?.status(), 404);
    // Alice's link was used up: opened again (in Bob's profile), it signs no one in.
    const reused = await b.page.goto(a.url);
    assert.ok((reused?.status() ?? 0) >= 400, `a used link: ${reused?.status()}`);
    assert.match(await textOf(b.page, 'body'), /auth:login/);
    await b.page.context().close();

    // Alice opens her app from the list.
    const page = a.page;
    /** From the app page, as a person watches it: reloaded until the commit's build shows, then opened. */
    const openBuild = async (commitRev: string) => {
      await page.goto(`${base}/apps/${aliceApp}`);
      const link = page
        .locator('tr', { hasText: commitRev.slice(0, 7) })
        .locator('a[href*="/builds/"]');
      const deadline = performance.now() + WAIT_MS;
      while ((await link.count()) === 0) {
        assert.ok(performance.now() < deadline, 'the build never showed on the app page');
        await page.waitForTimeout(200);
        await page.reload();
      }
      await link.click();
      await page.waitForURL(/\/builds\//);
    };
    // What the pages' script throws, and what the browser logs as an error
    // (a 404 or 401 page's "Failed to load resource" is expected here).
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(`uncaught: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) {
        pageErrors.push(`console: ${m.text()}`);
      }
    });
    await page.goto(`${base}/`);
    await page.getByRole('link', { name: aliceApp, exact: true }).click();
    await page.waitForURL(`${base}/apps/${aliceApp}`);
    assert.match(await textOf(page, 'body'), /Current release v1/);

    phase('sign-in, apps pages');
    // A push whose Dockerfile step prints its own clock now and then.
    // Then a line of markup, which must show as text, live and on a reload.
    const rev = await commit('release two', [
      `RUN for i in $(seq 1 ${TICKS}); do sleep ${TICK_MS / 1000}; echo "tick $i $(date +%s%3N)"; done`,
      `RUN echo '${HOSTILE}'`,
      // A coloured line, as npm and pip print them: a span of its colour on the page.
      `RUN printf '\\033[1;32mcolour check\\033[0m done\\n'`,
    ]);
    const pushed = git('push', 'deploy', 'main');
    await page.addInitScript(RECORD_LOG_LINES);
    await openBuild(rev);
    const buildId = page.url().split('/').at(-1) ?? '';
    const atLoad = Number(await page.locator('#log').getAttribute('data-lines'));
    // Midway, the web service dies; the supervisor starts it again, and the
    // page's stream reconnects by itself and resumes after the last line it
    // had (Last-Event-ID), to the end of the build.
    await page.locator('#log', { hasText: `tick ${KILL_AFTER} ` }).waitFor();
    const killedAt = Date.now();
    await killWeb();
    await page.locator('#build-state', { hasText: 'succeeded' }).waitFor();
    const text = await textOf(page, '#log');
    // The builder's writes, read from the platform's own Redis: a stream
    // entry's id is Redis' clock (ms) when the entry was added. The web
    // service shares its process with the builder (services/control), so the
    // kill above also stopped the build, which ran again: its lines may be
    // in the log twice, each time as the builder wrote them.
    const redis = new Redis(p.env.REDIS_URL ?? '', { lazyConnect: true, maxRetriesPerRequest: 1 });
    const entries = await redis
      .connect()
      .then(() => redis.xrange(buildLogKey(p.env.BERTH_REDIS_PREFIX ?? '', buildId), '-', '+'))
      .finally(() => redis.disconnect());
    const lineOf = (fields: string[]) => fields[fields.indexOf('text') + 1] ?? '';
    for (let i = 1; i <= TICKS; i++) {
      // Each line as often as the builder wrote it: the stream started right
      // after the lines the HTML had, and resumed right after the last line it had.
      const tick = new RegExp(`tick ${i} \\d{13}(\n|$)`);
      const wrote = entries.filter(([, fields]) => tick.test(lineOf(fields))).length;
      const times = text.match(new RegExp(`tick ${i} \\d{13}\n`, 'g'))?.length ?? 0;
      assert.ok(wrote >= 1, `tick ${i} was written`);
      assert.equal(times, wrote, `tick ${i} shows ${times} times, written ${wrote}`);
    }
    assert.match(text, /-----> Build succeeded/);
    assert.ok(text.includes(`\n       ${HOSTILE}\n`), 'the markup line shows as text');
    assert.equal(await page.locator('#log img').count(), 0);
    assert.equal(await textOf(page, '#log .ansi-32.ansi-bold'), 'colour check');
    // (The step's own command line, printed by the build, has the sequence as typed, \\033.)
    assert.ok(!text.includes('\x1b'), 'no escape character reaches the page');
    await page.screenshot({ path: path.join(shots, 'build-page.png'), fullPage: true });
    await assertAccessible(page, 'the build page');

    // When each line reached the page, against when the builder wrote it.
    // Lines the page added one by one came from the stream (those in the
    // HTML at load came in one node with the lines before them). Only those
    // written after the first connection's response began and on the page
    // before the kill are timed: the ones written earlier were caught up on
    // connecting, the later ones waited for the web service to come back.
    const seen = (await page.evaluate('window.__berthLines')) as { at: number; text: string }[];
    const connections = (await page.evaluate(`performance.getEntriesByType('resource')
      .filter((r) => r.name.includes('/stream?'))
      .map((r) => performance.timeOrigin + r.responseStart)`)) as number[];
    assert.ok(connections.length >= 2, `the page reconnected (${connections.length} connections)`);
    const streamOpened = Math.min(...connections);
    // The first write of each tick (the build's first run) is the one timed.
    const written = new Map<number, number>();
    for (const [id, fields] of entries) {
      const m = /^ *tick (\d+) /.exec(lineOf(fields));
      if (m && !written.has(Number(m[1]))) written.set(Number(m[1]), Number(id.split('-')[0]));
    }
    const streamed = seen.flatMap((s) => {
      const m = /^ *tick (\d+) (\d{13})\n$/.exec(s.text);
      const tick = Number(m?.[1]);
      const write = written.get(tick);
      return m && write !== undefined ? [{ at: s.at, tick, printed: Number(m[2]), write }] : [];
    });
    const live = streamed.filter((l) => l.write >= streamOpened && l.at < killedAt);
    assert.ok(
      live.length >= 3,
      `only ${live.length} of ${TICKS} lines followed live (${atLoad} lines at load, ${streamed.length} by the stream)`,
    );
    const fromWrite = live.map((l) => l.at - l.write);
    assert.ok(
      fromWrite.every((ms) => ms >= 0),
      `XADD → page: ${fromWrite}`,
    );
    t.diagnostic(
      `build log line, builder's write (XADD) → on the page: ${figures(fromWrite)} ` +
        `(${streamed.length - live.length} more caught up on connecting or after the restart)`,
    );
    t.diagnostic(
      `build log line, printed by the Dockerfile step → on the page: ${figures(live.map((l) => l.at - l.printed))}`,
    );

    // Reloaded, the whole log comes from the server's HTML: escaped there too.
    await page.reload();
    assert.ok((await textOf(page, '#log')).includes(`\n       ${HOSTILE}\n`));
    assert.equal(await page.locator('#log img').count(), 0);
    assert.equal(await page.evaluate('window.__berthXss'), undefined, 'the markup never ran');

    // The push finishes (v2 goes live); the app page shows it.
    assert.equal((await pushed).code, 0, 'second push');
    await page.goto(`${base}/apps/${aliceApp}`);
    assert.match(await textOf(page, 'body'), /Current release v2/);
    // The running instance's CPU and memory from the Engine, with the page's
    // own time limits (a user may reload once or twice on a busy machine).
    const usageShown = /web\.1\s*v2\s*running.*?\d+\.\d%\s*\d+\.\d MiB/;
    for (let i = 0; i < 3 && !usageShown.test(await textOf(page, 'body')); i++) await page.reload();
    assert.match(await textOf(page, 'body'), usageShown);
    await page.screenshot({ path: path.join(shots, 'app-page.png'), fullPage: true });
    await assertAccessible(page, 'the app page');
    await screenshotDark(page, path.join(shots, 'app-page-dark.png'));
    // On a phone: the tables become labelled blocks, and nothing is wider than the screen.
    await page.setViewportSize({ width: 390, height: 844 });
    assert.ok(
      (await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth')) as boolean,
      'the app page fits a 390-pixel screen',
    );
    await assertAccessible(page, 'the app page on a phone');
    await page.screenshot({ path: path.join(shots, 'app-page-phone.png'), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });
    const served = async () =>
      (await request(routerPort, `${aliceApp}.${DOMAIN}`).catch(() => undefined))?.body.trim();
    assert.equal(await served(), 'release two');

    phase('push watched live, web restart under it');
    // Roll back from the page: the link, the confirmation, the button.
    await page.getByRole('link', { name: 'Roll back to v1' }).click();
    await page.waitForURL(`${base}/apps/${aliceApp}/rollback?to=1`);
    await assertAccessible(page, 'the rollback confirmation');
    await page.getByRole('button', { name: 'Roll back to v1' }).click();
    await page.waitForURL(`${base}/apps/${aliceApp}?rolledBack=3`);
    assert.equal((await textOf(page, '#outcome')).trim(), 'Rollback to v1: v3 is live.');
    assert.match(await textOf(page, 'body'), /Current release v3/);
    assert.equal(await served(), 'release one');
    await page.screenshot({ path: path.join(shots, 'app-page-rolled-back.png'), fullPage: true });

    phase('rollback');
    // The runtime log, tailed live: a request's line from the app (python's
    // http.server logs each request to stderr) shows up without a reload.
    await page.getByRole('button', { name: 'Tail the log live' }).click();
    await page.getByRole('button', { name: 'Stop' }).waitFor();
    const probe = `/browser-${randomBytes(4).toString('hex')}`;
    // The tail has started once its first lines (the last 50 of the log) are in.
    await page.locator('#runtime-log', { hasText: 'GET' }).waitFor();
    assert.equal((await request(routerPort, `${aliceApp}.${DOMAIN}`, { path: probe })).status, 404);
    await page.locator('#runtime-log', { hasText: `GET ${probe} ` }).waitFor();
    // Each line once (each carries the Engine's time in nanoseconds): the
    // recent lines and the followed ones meet without overlap.
    const once = (text: string) => {
      const lines = text.split('\n').filter((l) => l !== '');
      assert.equal(new Set(lines).size, lines.length, `a line twice in the tail:\n${text}`);
    };
    once(await textOf(page, '#runtime-log'));

    phase('runtime log tail');
    // The web service dies and the supervisor starts it again: the tail
    // reconnects by itself and starts afresh (the server sends the last lines
    // on each connection), so no line shows twice.
    await killWeb();
    const tailDeadline = performance.now() + WAIT_MS;
    for (let n = 1; ; n++) {
      // A request with a fresh path now and then, until one shows: the tail is back.
      const again = `${probe}-again${n}`;
      await request(routerPort, `${aliceApp}.${DOMAIN}`, { path: again });
      const shown = await page
        .locator('#runtime-log', { hasText: `GET ${again} ` })
        .waitFor({ timeout: 1000 })
        .then(
          () => true,
          () => false,
        );
      if (shown) break;
      assert.ok(performance.now() < tailDeadline, 'the runtime log tail never came back');
    }
    const tail = await textOf(page, '#runtime-log');
    assert.ok(tail.includes(`GET ${probe} `), 'the line before the restart is still there');
    once(tail);
    await page.getByRole('button', { name: 'Stop' }).click();
    await page.getByRole('button', { name: 'Tail the log live' }).waitFor();

    phase('web restart under the tail');
    // Signing out ends the session: the apps page asks for a new sign-in.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Signed out' }).waitFor();
    assert.equal((await page.goto(`${base}/`))?.status(), 401);
    assert.deepEqual(pageErrors, []);
    phase('sign-out');
    t.diagnostic(`phases: ${phases.join(', ')}`);
    t.diagnostic(`screenshots in ${shots}`);
  });
});
