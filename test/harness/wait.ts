// Bounded waits for tests: a promise, or a condition, that must come true
// within a time; otherwise the test fails naming what did not happen,
// instead of hanging until the runner's own timeout.
import { setTimeout as sleep } from 'node:timers/promises';

/** `p`, or a rejection naming `what` after `ms`. */
export function within<T>(p: Promise<T>, what: string, ms = 15_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Resolves once `check` holds (tried every 20 ms); rejects naming `what` after `ms`. */
export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  ms = 10_000,
): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`${what} within ${ms} ms`);
    await sleep(20);
  }
}
