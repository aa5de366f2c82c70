// Starting one router process (proxy/worker.ts) and giving it its listening
// sockets: either it binds the ports itself (nothing holds them), or it gets
// the sockets a running router process listens on, over a short-lived IPC
// channel (child_process' handle passing), so every router process accepts
// on the same kernel sockets and a new one starts without a moment in which
// the ports are closed. The spawner is the primary (first process) or a
// router process (every later one); the new process outlives either.
import { fork } from 'node:child_process';
import type { Server } from 'node:net';
import { BerthError } from '../services/core/errors.ts';
import { type EntryCommand, entryCommand, ROUTER_HEAP_OPTIONS } from '../services/core/runtime.ts';
import type { SpawnMessage } from './control.ts';

/**
 * This process's own router process code, with a young generation smaller
 * than V8's default (ROUTER_HEAP_OPTIONS: about 10 MB less each while idle,
 * at no cost in throughput `npm run bench proxy` could tell from noise).
 */
const ownWorker = entryCommand('proxy/worker.ts');
export const WORKER: EntryCommand = {
  file: ownWorker.file,
  execArgv: [...ownWorker.execArgv, ...ROUTER_HEAP_OPTIONS],
};
/** A router process connects to Redis and loads the routes before it asks for its sockets. */
const START_LIMIT_MS = 60_000;

/** What a starting router process says over the IPC channel. */
export type ChildMessage = { type: 'want-sockets' } | { type: 'listening' };

/**
 * Resolves with the new process's pid once it listens on both ports.
 * `worker`: the code it runs, by default this process's own.
 */
export function startRouterProcess(
  env: NodeJS.ProcessEnv,
  sockets: 'bind' | readonly [http: Server, https: Server],
  worker: EntryCommand = WORKER,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = fork(worker.file, [], {
      execArgv: worker.execArgv,
      env,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const fail = (reason: string) => {
      clearTimeout(timer);
      reject(new BerthError('BERTH_E_SERVICE_FAILED', { service: 'router', reason }));
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(`a router process did not listen within ${START_LIMIT_MS / 1000} s`);
    }, START_LIMIT_MS);
    const onExit = (code: number | null, signal: string | null) =>
      fail(`a router process exited (${signal ?? `code ${code}`}) before it listened`);
    child.once('exit', onExit);
    child.on('message', (m: ChildMessage) => {
      if (m.type === 'want-sockets') {
        // Asked for only once its servers exist: a socket handed over earlier
        // would accept connections nobody handles.
        if (sockets === 'bind') child.send({ type: 'bind' } satisfies SpawnMessage);
        else {
          child.send({ type: 'socket', port: 'http' } satisfies SpawnMessage, sockets[0]);
          child.send({ type: 'socket', port: 'https' } satisfies SpawnMessage, sockets[1]);
        }
      } else if (m.type === 'listening') {
        clearTimeout(timer);
        child.off('exit', onExit);
        // From here it answers to the primary's control socket, not to us.
        child.disconnect();
        child.unref();
        resolve(child.pid as number);
      }
    });
  });
}
