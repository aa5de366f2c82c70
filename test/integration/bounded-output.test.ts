// What an app sends Berth is read within bounds, against the run's Redis and
// real sockets on loopback:
//   - a build printing 40 MB: its log stream in Redis and its log file keep
//     at most MAX_BUILD_OUTPUT, say so, and end with the output's last lines;
//   - an app.json startup check against an endpoint that never stops
//     sending: the check reads MAX_CHECK_BODY and closes the connection,
//     where it read (and kept) everything until its timeout.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, test } from 'node:test';
import { MAX_LINE } from '../../services/core/lines.ts';
import { BuildLog, MAX_BUILD_OUTPUT, TAIL_LINES } from '../../services/platform/build/build-log.ts';
import { buildLogKey } from '../../services/platform/build/queue.ts';
import { checkHttp, MAX_CHECK_BODY } from '../../services/platform/release/health.ts';
import { redisClient, testPrefix } from '../harness/redis.ts';
import { tempDir } from '../harness/tmp.ts';

const prefix = testPrefix();
const redis = await redisClient(prefix);

describe('bounded output', () => {
  test('a build that prints 40 MB keeps at most MAX_BUILD_OUTPUT, says so, and keeps its last lines', async () => {
    const id = randomBytes(4).toString('hex');
    const file = path.join(await tempDir('berth-bounded'), `${id}.log`);
    const log = await BuildLog.open({ redis, redisPrefix: prefix, buildId: id, file });
    const line = 'z'.repeat(1000);
    const lines = 40 * 1024;
    for (let i = 0; i < lines; i++) log.write(i === lines - 1 ? 'the last line' : line);
    log.write('w'.repeat(MAX_LINE * 3));
    await log.close('-----> Build failed');

    const entries = await redis.xrange(buildLogKey(prefix, id), '-', '+');
    const texts = entries.map(([, fields]) => fields[fields.indexOf('text') + 1] ?? '');
    const stored = texts.reduce((n, t) => n + t.length + 1, 0);
    assert.ok(
      stored <= MAX_BUILD_OUTPUT + (TAIL_LINES + 3) * (MAX_LINE + 100),
      `${stored} characters in Redis`,
    );
    assert.ok(texts.some((t) => /The build's output passed 10 MB: the rest is not kept/.test(t)));
    assert.ok(texts.some((t) => /\.\.\. \d+ lines not kept \.\.\./.test(t)));
    assert.ok(
      texts.includes('the last line'),
      `the last lines are there, at the end: ${texts
        .slice(-3)
        .map((x) => x.slice(0, 60))
        .join(' / ')} (${texts.length})`,
    );
    assert.ok(
      texts.every((t) => t.length <= MAX_LINE + 40),
      'no line longer than MAX_LINE and its mark',
    );
    const written = await readFile(file, 'utf8');
    assert.ok(written.length <= MAX_BUILD_OUTPUT + (TAIL_LINES + 4) * (MAX_LINE + 100));
    assert.match(written, /the last line\n(.*\n)?-----> Build failed\n$/);
  });

  test('a startup check reads at most MAX_CHECK_BODY of an answer that never ends', async (t) => {
    let sent = 0;
    let closed!: () => void;
    const gone = new Promise<void>((resolve) => {
      closed = resolve;
    });
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const chunk = Buffer.alloc(64 * 1024, 'a');
      const more = () => {
        while (!res.destroyed) {
          sent += chunk.length;
          if (!res.write(chunk)) break;
        }
        if (!res.destroyed) res.once('drain', more);
      };
      res.on('close', closed);
      more();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const { port } = server.address() as AddressInfo;
    const result = await checkHttp({
      address: `127.0.0.1:${port}`,
      path: '/',
      content: 'never there',
      attempts: 1,
      wait: 0,
      timeout: 5,
      initialDelay: 0,
      uptime: 0,
    });
    await gone;
    assert.equal(result.ok, false);
    assert.match(result.ok ? '' : result.reason, /without "never there" in its body/);
    // Loopback sends gigabytes in the 5 s the check may take; it stopped reading at once.
    assert.ok(sent < 16 * 1024 * 1024, `${sent} bytes sent before the check closed the connection`);
    assert.ok(MAX_CHECK_BODY < sent);
  });
});
