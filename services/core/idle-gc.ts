// A full garbage collection once a process has started and settled. What a
// start allocates and drops (module evaluation, the first reads, a router
// process's route load) lies in V8's old generation, which is collected only
// once allocation reaches its limit: a process that then mostly waits never
// gets there, and keeps its start's garbage for good (issue 17).
import v8 from 'node:v8';
import vm from 'node:vm';

/** After `delayMs`, one full collection; the timer keeps nothing alive. */
export function collectStartGarbage(delayMs = 5000): void {
  // Exposes gc() to a new context only; flags set after start apply to
  // contexts made after it (Node.js' documented way round --expose-gc).
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  setTimeout(gc, delayMs).unref();
}
