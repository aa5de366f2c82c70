// app.json's command checks on the swarm scheduler. A task runs on any
// node, and the manager cannot run a command in it (no exec through a
// manager), so a process type's command check becomes its service's health
// check, which the node's Engine runs in the task: Swarm reports a task
// `running` only once its health check passed (and replaces it when it fails
// later, where docker-local checks at startup only). The rollout's check then
// asks exec() for that same command, which answers from the task's state.
// One command check per process type (a service has one health check).
import type { CommandCheck } from './scheduler.ts';

/**
 * A check with `content` runs in the image's /bin/sh: a constant script,
 * the content and the command its arguments, never part of its text.
 */
const WITH_CONTENT = [
  '/bin/sh',
  '-c',
  'c=$1; shift; out=$("$@" 2>&1) || exit 1; case "$out" in *"$c"*) exit 0;; esac; exit 1',
  'berth-check',
];

/** The service's HealthConfig (API nanoseconds) for `check`. */
export function healthConfig(check: CommandCheck): Record<string, unknown> {
  const command = check.command ?? [];
  return {
    Test:
      check.content === undefined
        ? ['CMD', ...command]
        : ['CMD', ...WITH_CONTENT, check.content, ...command],
    // Swarm checks again every `wait` (at least a second) for as long as the task runs.
    Interval: Math.max(1, check.wait) * 1e9,
    Timeout: check.timeout * 1e9,
    Retries: check.attempts,
    ...(check.initialDelay > 0 ? { StartPeriod: check.initialDelay * 1e9 } : {}),
  };
}

/**
 * Whether `argv` is the command of the service's health check `test`;
 * what its output is taken to be when it passed (the content asked for).
 */
export function checkOf(
  test: readonly string[] | undefined,
  argv: readonly string[],
): { output: string } | undefined {
  if (test === undefined || test[0] !== 'CMD') return undefined;
  const same = (a: readonly string[]) =>
    a.length === argv.length && a.every((x, i) => x === argv[i]);
  if (same(test.slice(1))) return { output: '' };
  const head = test.slice(1, 1 + WITH_CONTENT.length);
  if (head.every((x, i) => x === WITH_CONTENT[i]) && same(test.slice(2 + WITH_CONTENT.length))) {
    return { output: test[1 + WITH_CONTENT.length] ?? '' };
  }
  return undefined;
}
