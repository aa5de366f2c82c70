// Berth's own Redis runs with "appendfsync no" (./bootstrap/redis-server.ts
// says why): Redis write()s every change to its append-only file before it
// replies, and leaves the fsync to the kernel, which may hold dirty pages for
// up to 30 s. This puts the "at most a second" back for a crash of the
// machine: once a second, `npm start`'s supervisor fsyncs the files of Redis's
// append-only directory. fsync works on any descriptor of a file, and Redis
// never waits for it, so a slow disk delays this flush, never a reply.
// Only files in Berth's own Redis folder: a Redis that is not ours has none.
import { open, readdir } from 'node:fs/promises';
import path from 'node:path';

/** The folder Redis 7 keeps its multi-part append-only file in, under its --dir. */
export const AOF_DIR = 'appendonlydir';

/** fsyncs every file of <redisDir>/appendonlydir; quietly nothing when it does not exist. */
export async function flushAof(redisDir: string): Promise<number> {
  const dir = path.join(redisDir, AOF_DIR);
  const names = await readdir(dir).catch(() => [] as string[]);
  let flushed = 0;
  for (const name of names) {
    // A file removed by a rewrite between readdir and open is simply gone.
    const file = await open(path.join(dir, name), 'r').catch(() => undefined);
    if (!file) continue;
    try {
      await file.sync();
      flushed++;
    } catch {
      // A failing fsync is Redis's to report (it sees the same disk).
    } finally {
      await file.close();
    }
  }
  return flushed;
}

/** Flushes once a second, one flush at a time, until the returned stop is called. */
export function startAofFlush(redisDir: string, everyMs = 1000): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    void flushAof(redisDir).finally(() => {
      running = false;
    });
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
