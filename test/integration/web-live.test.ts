// Rollback from the app page and the API, and a build's log live by
// Server-Sent Events (issue 7), against a real Redis, the real Docker Engine
// (the test stack image serving a different text per release) and a real
// HTTP server on port 0 read by a real HTTP client. The app's containers are
// removed by its label at the end.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { createLogger } from '../../services/core/log.ts';
import { issueToken } from '../../services/platform/accounts/api-tokens.ts';
import { BuildLog, buildLogFile } from '../../services/platform/build/build-log.ts';
import { finishBuild } from '../../services/platform/build/queue.ts';
import { deployImage } from '../../services/platform/release/deploy.ts';
import { getRoutes } from '../../services/platform/routes/routes.ts';
import { schedulerNamed } from '../../services/platform/scheduler/schedulers.ts';
import { followerName } from '../../services/web/build-page.ts';
import { build } from '../../services/web/server.ts';
import { userActor } from '../harness/commands.ts';
import { quietDeployDeps, routedContent, serveText } from '../harness/deploy.ts';
import { dockerConnections, testStackImage } from '../harness/docker.ts';
import { until } from '../harness/wait.ts';
import { bareCells, queuedBuild, signIn as signInAs, webWithEngine } from '../harness/web.ts';

const app = `wl${randomBytes(3).toString('hex')}`;
const HOSTILE = '<script>alert(1)</script>';
// At the top level, not in a before() hook, where the harness's after()
// cleanups could run as soon as the hook ended.
const setup = await webWithEngine(app);
const { prefix, redis, store, docker, web, buildLogs } = setup;
const base = await web.listen({ host: '127.0.0.1', port: 0 });
await store.users.create('alice', 'user');
await store.users.create('mallory', 'user');
await store.apps.create({ name: app, owner: 'alice' });

const signIn = (user: string) => signInAs(web, store, user);

/** The status of the release a 202 pointed at, once it is no longer pending. */
async function settled(location: string, secret: string): Promise<string> {
  for (let i = 0; i < 300; i++) {
    const r = await web.inject({ url: location, headers: { authorization: `Bearer ${secret}` } });
    const status = r.json().release?.status;
    if (status !== 'pending') return String(status);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return 'still pending after 30 s';
}

/** "v2 two": the routed release and what its instances serve. */
async function served(): Promise<string> {
  const { release, texts } = await routedContent(redis, prefix, app);
  return `v${release} ${texts.join('|')}`;
}

describe('rollback', () => {
  test('from the page with the CSRF token, not without it, not by another user; and by the API', async (t) => {
    const d = quietDeployDeps(store, schedulerNamed('docker-local', { docker }));
    for (const text of ['one', 'two']) {
      await deployImage(d, {
        app,
        image: testStackImage(),
        processes: { web: serveText(text) },
        by: 'alice',
        description: `Deploy ${text}`,
      });
    }
    assert.equal(await served(), 'v2 two');
    const alice = await signIn('alice');
    const mallory = await signIn('mallory');

    const appPage = await web.inject({ url: `/apps/${app}`, headers: { cookie: alice.cookie } });
    assert.match(
      appPage.body,
      new RegExp(`<a href="/apps/${app}/rollback\\?to=1">Roll back to v1</a>`),
    );
    assert.doesNotMatch(appPage.body, /Roll back to v2/, 'not to the current release');
    // The running instance with the Engine's CPU and memory figures.
    assert.match(
      bareCells(appPage.body),
      /<td>web\.1<\/td><td>v2<\/td><td><span class="status s-running">running<\/span><\/td>.*?<td>\d+\.\d%<\/td><td>\d+\.\d MiB/,
    );

    const confirm = await web.inject({
      url: `/apps/${app}/rollback?to=1`,
      headers: { cookie: alice.cookie },
    });
    assert.equal(confirm.statusCode, 200);
    assert.match(confirm.body, /Roll back .* to v1\?/);
    assert.match(confirm.body, /v1: Deploy one/);
    assert.ok(confirm.body.includes(`name="_csrf" value="${alice.csrf}"`));
    assert.match(confirm.body, /<input type="hidden" name="to" value="1">/);
    // Hostile and malformed versions are refused before anything is looked up.
    for (const to of ['0', 'v1;rm', HOSTILE, '99999999999']) {
      const r = await web.inject({
        url: `/apps/${app}/rollback?to=${encodeURIComponent(to)}`,
        headers: { cookie: alice.cookie },
      });
      assert.equal(r.statusCode, 400, to);
      assert.ok(!r.body.includes('<script>alert'), 'escaped');
    }
    assert.equal(
      (await web.inject({ url: `/apps/${app}/rollback?to=7`, headers: { cookie: alice.cookie } }))
        .statusCode,
      404,
    );

    // Without the CSRF token (a cross-site form): 403, nothing changed.
    const forged = await web.inject({
      method: 'POST',
      url: `/apps/${app}/rollback`,
      headers: { cookie: alice.cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ to: '1' }).toString(),
    });
    assert.equal(forged.statusCode, 403);
    assert.match(forged.body, /no valid CSRF token/);
    assert.equal((await store.releases.list(app)).length, 2);
    assert.equal(await served(), 'v2 two');

    // Someone who may not see the app: the same 404 as a missing app, page and POST alike.
    const missing = await web.inject({
      url: '/apps/nosuchapp/rollback?to=1',
      headers: { cookie: mallory.cookie },
    });
    for (const r of [
      await web.inject({ url: `/apps/${app}/rollback?to=1`, headers: { cookie: mallory.cookie } }),
      await web.inject({
        method: 'POST',
        url: `/apps/${app}/rollback`,
        headers: { cookie: mallory.cookie, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ to: '1', _csrf: mallory.csrf }).toString(),
      }),
    ]) {
      assert.equal(r.statusCode, 404);
      assert.equal(r.body.replaceAll(app, 'X'), missing.body.replaceAll('nosuchapp', 'X'));
    }
    assert.equal((await store.releases.list(app)).length, 2);

    // With the token: a new release with v1's image and processes, live.
    const started = performance.now();
    const done = await web.inject({
      method: 'POST',
      url: `/apps/${app}/rollback`,
      headers: { cookie: alice.cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ to: '1', _csrf: alice.csrf }).toString(),
    });
    const pageMs = performance.now() - started;
    assert.equal(done.statusCode, 303, done.body);
    assert.equal(done.headers.location, `/apps/${app}?rolledBack=3`);
    assert.equal(await served(), 'v3 one');
    const v3 = await store.releases.get(app, 3);
    const v1 = await store.releases.get(app, 1);
    assert.equal(v3?.description, 'Rollback to v1');
    assert.equal(v3?.by, 'alice');
    assert.equal(v3?.image, v1?.image);
    assert.deepEqual(v3?.processes, v1?.processes);
    const after3 = await web.inject({
      url: String(done.headers.location),
      headers: { cookie: alice.cookie },
    });
    assert.match(after3.body, /<p class="note" id="outcome">Rollback to v1: v3 is live\.<\/p>/);

    // The API, with a bearer token: no CSRF token needed; the new release as JSON.
    const { secret } = await issueToken(store, userActor('alice', 'user'));
    const { secret: mallorySecret } = await issueToken(store, userActor('mallory', 'user'));
    const denied = await web.inject({
      method: 'POST',
      url: `/api/v1/apps/${app}/rollback`,
      headers: { authorization: `Bearer ${mallorySecret}` },
      payload: { to: 2 },
    });
    assert.equal(denied.statusCode, 404);
    assert.equal(denied.json().error.code, 'BERTH_E_APP_NOT_FOUND');
    const bad = await web.inject({
      method: 'POST',
      url: `/api/v1/apps/${app}/rollback`,
      headers: { authorization: `Bearer ${secret}` },
      payload: { to: 'v2; reboot' },
    });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().error.code, 'BERTH_E_USAGE');
    const apiStarted = performance.now();
    const api = await web.inject({
      method: 'POST',
      url: `/api/v1/apps/${app}/rollback`,
      headers: { authorization: `Bearer ${secret}` },
      payload: { to: 2 },
    });
    // 202 once the release is recorded; it rolls out meanwhile (web-api.test.ts has the rest).
    assert.equal(api.statusCode, 202, api.body);
    const body = api.json();
    assert.equal(body.release.version, 4);
    assert.equal(body.release.description, 'Rollback to v2');
    assert.equal(body.release.status, 'pending');
    assert.equal(api.headers.location, `/api/v1/apps/${app}/releases/4`);
    assert.equal(await settled(String(api.headers.location), secret), 'succeeded');
    const apiMs = performance.now() - apiStarted;
    assert.equal(await served(), 'v4 two');
    // No "to": the release before the current one, as releases:rollback does (v3).
    const plain = await web.inject({
      method: 'POST',
      url: `/api/v1/apps/${app}/rollback`,
      headers: { authorization: `Bearer ${secret}` },
    });
    assert.equal(plain.statusCode, 202, plain.body);
    assert.equal(plain.json().release.description, 'Rollback to v3');
    assert.equal(await settled(String(plain.headers.location), secret), 'succeeded');
    assert.equal(await served(), 'v5 one');
    t.diagnostic(
      `rollback from the page ${pageMs.toFixed(0)} ms, by the API ${apiMs.toFixed(0)} ms (drain 0)`,
    );
  });
});

describe('the runtime log, live', () => {
  test("a request's access line reaches the SSE client; another user gets 404", async (t) => {
    // The app runs the last rollback's release (python's http.server logs each request).
    const alice = await signIn('alice');
    const mallory = await signIn('mallory');
    const appPage = await web.inject({ url: `/apps/${app}`, headers: { cookie: alice.cookie } });
    assert.ok(
      appPage.body.includes(`<pre id="runtime-log" data-stream="/apps/${app}/logs/stream">`),
    );
    // The API twin, with a bearer token.
    const { secret } = await issueToken(store, userActor('alice', 'user'));
    const api = await fetch(`${base}/api/v1/apps/${app}/logs/stream?n=1`, {
      headers: { authorization: `Bearer ${secret}` },
    });
    assert.equal(api.status, 200);
    assert.match(String(api.headers.get('content-type')), /^text\/event-stream/);
    await api.body?.cancel();
    const badN = await fetch(`${base}/api/v1/apps/${app}/logs/stream?n=0`, {
      headers: { authorization: `Bearer ${secret}` },
    });
    assert.equal(badN.status, 400);
    assert.equal(((await badN.json()) as { error: { code: string } }).error.code, 'BERTH_E_USAGE');
    const hidden = await fetch(`${base}/apps/${app}/logs/stream`, {
      headers: { cookie: mallory.cookie },
    });
    assert.equal(hidden.status, 404);
    await hidden.body?.cancel();
    const ac = new AbortController();
    const s = await openStream(`${base}/apps/${app}/logs/stream?n=5`, alice.cookie, ac.signal);
    const seen = s.events.length;
    const entry = await getRoutes(redis, prefix, app);
    const probe = `probe-${randomBytes(3).toString('hex')}`;
    // The Engine's follow may start a moment after the answer: ask until a line comes.
    const asked = performance.now();
    let arrived: { data: string; at: number } | undefined;
    let answeredAt = 0;
    for (let i = 0; i < 50 && !arrived; i += 1) {
      await (await fetch(`http://${entry?.backends[0]}/${probe}`)).text();
      answeredAt = performance.now();
      await new Promise((r) => setTimeout(r, 100));
      arrived = s.events.slice(seen).find((e) => e.data.includes(`GET /${probe}`));
    }
    assert.ok(arrived, 'the access line arrived');
    assert.match(arrived.data, /^\S+ app\[web\.1\]: .*"GET \/probe-[0-9a-f]+ HTTP/);
    ac.abort();
    await s.done;
    t.diagnostic(
      `runtime log: first probe to its line ${(arrived.at - asked).toFixed(0)} ms (last answer to line ${(arrived.at - answeredAt).toFixed(0)} ms)`,
    );
  });
});

describe('live streams per user (issue 16)', () => {
  test('past BERTH_LIVE_STREAMS_PER_USER one user gets a 429 while another still gets a stream; dockerd connections stay bounded', async (t) => {
    const CAP = 3;
    const capped = build({
      store,
      log: createLogger('web', { level: 'silent' }),
      domain: 'berth.test',
      engine: async () => docker,
      engineTimeoutMs: 10_000,
      buildLogs,
      liveStreamsPerUser: CAP,
    });
    const cappedBase = await capped.listen({ host: '127.0.0.1', port: 0 });
    await store.users.create('carol', 'user');
    await store.apps.addCollaborator(app, 'carol');
    t.after(() => store.apps.removeCollaborator(app, 'carol'));
    const alice = await signInAs(capped, store, 'alice');
    const carol = await signInAs(capped, store, 'carol');
    const url = `${cappedBase}/apps/${app}/logs/stream?n=1`;
    const held: { ac: AbortController; s: Awaited<ReturnType<typeof openStream>> }[] = [];
    // The streams go first: closing the web app waits for its connections.
    t.after(async () => {
      for (const h of held) h.ac.abort();
      await Promise.all(held.map((h) => h.s.done));
      await capped.close();
    });
    const open = async (cookie: string) => {
      const ac = new AbortController();
      const s = await openStream(url, cookie, ac.signal);
      held.push({ ac, s });
      return held.length - 1;
    };
    const before = await dockerConnections();
    for (let i = 0; i < CAP; i++) await open(alice.cookie);
    // One more page, and a crowd of them by the API with alice's token.
    const page = await fetch(url, { headers: { cookie: alice.cookie } });
    assert.equal(page.status, 429);
    const text = await page.text();
    assert.match(text, /alice has 3 live streams open, the most one user may have/i);
    assert.match(text, /BERTH_E_TOO_MANY_STREAMS/);
    const { secret } = await issueToken(store, userActor('alice', 'user'));
    const crowd = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const r = await fetch(`${cappedBase}/api/v1/apps/${app}/logs/stream?n=1`, {
          headers: { authorization: `Bearer ${secret}` },
        });
        const body = (await r.json()) as { error: { code: string } };
        return `${r.status} ${body.error.code}`;
      }),
    );
    assert.deepEqual(new Set(crowd), new Set(['429 BERTH_E_TOO_MANY_STREAMS']));
    // Another user is not held up by alice's streams.
    await open(carol.cookie);
    const during = (await dockerConnections()) - before;
    t.diagnostic(
      `dockerd connections: ${during} for ${CAP} + 1 streams held after ${CAP + 21 + 1} asked (one instance followed each)`,
    );
    assert.ok(during <= CAP + 1, `${during} dockerd connections for ${CAP + 1} streams`);
    // A stream closed gives its place back.
    const first = held[0];
    first?.ac.abort();
    await first?.s.done;
    await until('alice gets a stream again', async () => {
      const r = await fetch(url, { headers: { cookie: alice.cookie } });
      await r.body?.cancel();
      return r.status === 200;
    });
  });
});

/** An SSE reader over a real HTTP connection: each event as it arrives. */
async function openStream(url: string, cookie: string, signal: AbortSignal) {
  const res = await fetch(url, { headers: { cookie }, signal });
  assert.equal(res.status, 200);
  assert.match(String(res.headers.get('content-type')), /^text\/event-stream/);
  const events: { event: string; data: string; id?: string; at: number }[] = [];
  const waiters: (() => void)[] = [];
  const done = (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        for (let i = buffer.indexOf('\n\n'); i !== -1; i = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, i);
          buffer = buffer.slice(i + 2);
          const e = { event: 'message', data: '', at: performance.now() } as (typeof events)[0];
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) e.event = line.slice(7);
            else if (line.startsWith('id: ')) e.id = line.slice(4);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (block.startsWith(':')) continue;
          e.data = data.join('\n');
          events.push(e);
          for (const w of waiters.splice(0)) w();
        }
      }
    } catch {}
    for (const w of waiters.splice(0)) w();
  })();
  const next = async (count: number, timeoutMs = 10_000) => {
    const until = Date.now() + timeoutMs;
    while (events.length < count) {
      assert.ok(Date.now() < until, `no event ${count} within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 200);
      });
    }
    return events[count - 1];
  };
  return { events, next, done };
}

const followers = async (id: string) =>
  ((await redis.client('LIST')) as string)
    .split('\n')
    .filter((l) => l.includes(`name=${followerName(id)} `)).length;

describe('a build log, live', () => {
  test('the page, then each line the builder writes arrives by SSE; the end event closes it; escaped', async (t) => {
    const id = await queuedBuild(setup, app, 'a'.repeat(40));
    const log = await BuildLog.open({
      redis,
      redisPrefix: prefix,
      buildId: id,
      file: buildLogFile(buildLogs, app, id),
    });
    log.heading('Building with the Dockerfile');
    log.detail(`Step 1/2 ${HOSTILE}`);
    await log.flush();
    const alice = await signIn('alice');

    const appPage = await web.inject({ url: `/apps/${app}`, headers: { cookie: alice.cookie } });
    assert.ok(appPage.body.includes(`<a href="/apps/${app}/builds/${id}">${id}</a>`));
    const page = await web.inject({
      url: `/apps/${app}/builds/${id}`,
      headers: { cookie: alice.cookie },
    });
    assert.equal(page.statusCode, 200);
    assert.ok(page.body.includes('Step 1/2 &lt;script&gt;alert(1)&lt;/script&gt;'));
    assert.ok(!page.body.includes(HOSTILE), 'the log line is escaped');
    assert.match(page.body, /data-lines="2" data-ended="false"/);
    assert.ok(page.body.includes('<script src="/assets/live.js" defer></script>'));
    assert.ok(!page.body.includes('<script>'), 'no inline script');
    // The script is served by the web app itself, to anyone (it holds nothing secret).
    const js = await fetch(`${base}/assets/live.js`);
    assert.equal(js.status, 200);
    assert.match(String(js.headers.get('content-type')), /^text\/javascript/);
    const source = await js.text();
    assert.match(source, /new EventSource\(/);
    assert.match(source, /createTextNode/, 'lines are added as text, never as HTML');
    assert.doesNotMatch(source, /innerHTML|insertAdjacentHTML|document\.write/);
    // Another user's view of the build, and a build of another app: 404.
    const mallory = await signIn('mallory');
    assert.equal(
      (await web.inject({ url: `/apps/${app}/builds/${id}`, headers: { cookie: mallory.cookie } }))
        .statusCode,
      404,
    );
    assert.equal(
      (
        await web.inject({
          url: `/apps/${app}/builds/zzzzzzzzzz`,
          headers: { cookie: alice.cookie },
        })
      ).statusCode,
      404,
    );

    const ac = new AbortController();
    const s = await openStream(`${base}/apps/${app}/builds/${id}/stream`, alice.cookie, ac.signal);
    assert.equal((await s.next(2))?.data, `       Step 1/2 ${HOSTILE}`, 'SSE data is text');
    assert.equal(s.events[0]?.id, '1');
    assert.equal(await followers(id), 1, 'one Redis connection follows the build');

    // Each new line: from the builder's write to its arrival at the client.
    const delays: number[] = [];
    for (let i = 1; i <= 20; i += 1) {
      const wrote = performance.now();
      log.detail(`line ${i}`);
      const e = await s.next(2 + i);
      assert.equal(e?.data, `       line ${i}`);
      delays.push((e?.at ?? 0) - wrote);
    }
    delays.sort((a, b) => a - b);
    await log.close('-----> Build succeeded');
    await finishBuild(redis, prefix, id, { status: 'succeeded', image: 'berth/x:1' });
    const end = await s.next(23);
    assert.equal(end?.event, 'end');
    assert.deepEqual(JSON.parse(end?.data ?? ''), {
      status: 'succeeded',
      line: '-----> Build succeeded',
    });
    await s.done;
    assert.equal(await followers(id), 0, 'the follower closed at the end');
    t.diagnostic(
      `build log line, write to SSE arrival: median ${delays[10]?.toFixed(1)} ms, max ${delays[19]?.toFixed(1)} ms (20 lines)`,
    );

    // Resuming after line 21 (Last-Event-ID / ?after=): only the rest, then the end.
    const resumed = await openStream(
      `${base}/apps/${app}/builds/${id}/stream?after=21`,
      alice.cookie,
      AbortSignal.timeout(10_000),
    );
    await resumed.done;
    assert.deepEqual(
      resumed.events.map((e) => [e.event, e.id]),
      [
        ['line', '22'],
        ['end', undefined],
      ],
    );
    const endedPage = await web.inject({
      url: `/apps/${app}/builds/${id}`,
      headers: { cookie: alice.cookie },
    });
    assert.match(endedPage.body, /data-ended="true"/);
    assert.match(endedPage.body, /-----&gt; Build succeeded\n<\/pre>/);
  });

  test('a client that goes away leaves no Redis connection behind', async (t) => {
    const id = await queuedBuild(setup, app, 'b'.repeat(40));
    const log = await BuildLog.open({
      redis,
      redisPrefix: prefix,
      buildId: id,
      file: buildLogFile(buildLogs, app, id),
    });
    log.heading('Building');
    await log.flush();
    const alice = await signIn('alice');
    const ac = new AbortController();
    const s = await openStream(`${base}/apps/${app}/builds/${id}/stream`, alice.cookie, ac.signal);
    await s.next(1);
    assert.equal(await followers(id), 1);
    const gone = performance.now();
    ac.abort();
    await s.done;
    let left = 1;
    while (left > 0 && performance.now() - gone < 5000) {
      await new Promise((r) => setTimeout(r, 20));
      left = await followers(id);
    }
    assert.equal(left, 0, 'the follower is gone');
    t.diagnostic(
      `follower connection closed ${(performance.now() - gone).toFixed(0)} ms after the client left`,
    );
    await log.close('-----> Build succeeded');
    await finishBuild(redis, prefix, id, { status: 'succeeded' });
  });
});
