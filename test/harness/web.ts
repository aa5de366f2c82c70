// The web app as the tests of its changes need it: a fresh key prefix on
// the shared Redis, the real Docker Engine with the test stack image, and
// the app's build logs and log archive in directories of the test's own.
// Call it at a file's top level, never in a before() hook: the after()
// registered here would run when the hook ends.
import assert from 'node:assert/strict';
import { after } from 'node:test';
import type Docker from 'dockerode';
import { ROOT } from '../../services/core/actor.ts';
import { createLogger } from '../../services/core/log.ts';
import { dataPaths } from '../../services/core/paths.ts';
import { Store } from '../../services/core/store/index.ts';
import { createLoginLink } from '../../services/platform/accounts/sign-in.ts';
import { enqueueBuild } from '../../services/platform/build/queue.ts';
import { createBuildQueue } from '../../services/platform/build/queue-open.ts';
import { build } from '../../services/web/server.ts';
import { ensureTestStackImage, removeAppFromEngine, testDocker } from './docker.ts';
import { redisClient, testPrefix } from './redis.ts';
import { tempDir } from './tmp.ts';

export interface WebWithEngine {
  prefix: string;
  redis: Awaited<ReturnType<typeof redisClient>>;
  store: Store;
  docker: Docker;
  web: ReturnType<typeof build>;
  /** The web app's `<data dir>/build-logs`. */
  buildLogs: string;
}

/** The web app with the Engine; closed, and `app`'s containers removed, after the file. */
export async function webWithEngine(app: string): Promise<WebWithEngine> {
  const prefix = testPrefix();
  const redis = await redisClient(prefix);
  const store = new Store(redis, prefix);
  await store.checkSchema();
  const { docker } = await testDocker();
  await ensureTestStackImage(docker, await tempDir('berth-stack'));
  const buildLogs = await tempDir('berth-build-logs');
  const web = build({
    store,
    log: createLogger('web', { level: 'silent' }),
    domain: 'berth.test',
    engine: async () => docker,
    // The page's 1 s for the instance list is for people; the full suite's
    // load can make the Engine slower than that.
    engineTimeoutMs: 10_000,
    buildLogs,
    paths: dataPaths(await tempDir('berth-web-data')),
    releases: { tuning: { drainMs: 0 }, logArchive: await tempDir('berth-log-archive') },
  });
  after(async () => {
    await web.close();
    await removeAppFromEngine(docker, app);
  });
  return { prefix, redis, store, docker, web, buildLogs };
}

/**
 * Uses a sign-in link as a browser does: its GET shows a page whose button
 * (a form POST to the same path) signs in; the GET leaves the link unused.
 * The POST's answer.
 */
export async function useSignInLink(
  web: ReturnType<typeof build>,
  path: string,
  headers: Record<string, string> = {},
) {
  const page = await web.inject({ url: path, headers });
  assert.equal(page.statusCode, 200, page.body);
  const action = /<form method="post" action="([^"]+)">/.exec(page.body)?.[1];
  assert.equal(action, path, 'the page posts to the link');
  return web.inject({ method: 'POST', url: path, headers });
}

/** A browser session as the tests hold it: the cookie header, and the CSRF token its forms carry. */
export interface Session {
  cookie: string;
  csrf: string;
}

/**
 * Signs `user` in through a one-time link, as `auth:login` prints one, and
 * reads the session's CSRF token from the apps page's sign-out form.
 */
export async function signIn(
  web: ReturnType<typeof build>,
  store: Store,
  user: string,
): Promise<Session> {
  const link = await createLoginLink(store, { webPort: 8080, domain: 'berth.test' }, ROOT, {
    user,
  });
  const r = await useSignInLink(web, new URL(link.url).pathname);
  assert.equal(r.statusCode, 303, r.body);
  const cookie = String(r.headers['set-cookie']).split(';')[0] ?? '';
  const home = await web.inject({ url: '/', headers: { cookie } });
  const csrf = /name="_csrf" value="([^"]+)"/.exec(home.body)?.[1];
  assert.ok(csrf, 'the page carries the CSRF token');
  return { cookie, csrf };
}

/** A build of `app` at `rev` in the build queue, as a push leaves it; its id. */
export async function queuedBuild(o: WebWithEngine, app: string, rev: string): Promise<string> {
  const queue = createBuildQueue(o.redis, o.prefix);
  try {
    return await enqueueBuild(queue, { app, pusher: 'alice', rev, ref: 'refs/heads/main' });
  } finally {
    await queue.close();
  }
}

/**
 * A page's HTML with the attributes of its table tags dropped (the
 * `data-label` and `class` that layout.ts's dataTable adds for phones), so
 * that a test can match a row's cells as `<td>web</td><td>2</td>`.
 */
export const bareCells = (page: string): string =>
  page.replace(/<(table|tr|td|th)\b[^>]*>/g, '<$1>');
