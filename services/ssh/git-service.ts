// git push and git fetch/clone over an SSH exec channel: the SSH server hands
// over who is asking, the git service and the repository argument, and the
// channel's streams. This module checks the name (validate.repoPath) and the
// rights (authorizeApp), then runs git-receive-pack or git-upload-pack on the
// app's bare repository with an argument array and an environment of its own.
//
// A push of the deploy branch deploys, and the push waits for it (the hook's
// side is push-build.ts):
//
//   git push ─▶ git-receive-pack ─▶ hooks/pre-receive.mjs ──unix socket──▶ this process
//                                                                 │ enqueue the build
//                                       "remote: ..." ◀── lines ◀─┤ follow its log stream
//                       refs updated only on exit 0 ◀── status ◀──┘ succeeded → 0, else 1
//
// Pushes to one app are serialized by the app's build lock
// (../platform/locks/app-lock.ts) taken before git-receive-pack starts, so the next
// push sees the refs the previous one left. While a push waits for the lock, a
// newer push replaces it (and the holder's build, if no builder has taken it
// yet): only the newest waiting push is built. When the client goes away
// mid-build, git is stopped before it updates any ref, the build is asked to
// cancel, and the lock is released once the build has ended (or after a
// grace period); a Berth that dies holding the lock loses it after its TTL.
//
// Under the lock, before git runs, the owner's disk quota is checked and the
// push-size quota handed to git (../platform/git/push-quota.ts); after git,
// the repository is measured again for the disk quota.
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { actorName, isAdmin } from '../core/actor.ts';
import { requireFreeSpace } from '../core/disk-full.ts';
import { BerthError, EXIT, errorLine, isBerthError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { explainRedisFailure } from '../core/redis.ts';
import type { App, Store } from '../core/store/index.ts';
import * as validate from '../core/validate.ts';
import { authorizeApp } from '../platform/apps/access.ts';
import { type BuildQueue, supersedeQueuedBuild } from '../platform/build/queue.ts';
import { admitPush, PackMeter, pushSizeRefusal } from '../platform/git/push-quota.ts';
import { recordRepoUsage } from '../platform/git/repo-usage.ts';
import { ensureRepo, gitEnv, type RepoPaths } from '../platform/git/repos.ts';
import { acquireAppLock } from '../platform/locks/app-lock.ts';
import type { UserActor } from './auth.ts';
import type { SessionIo } from './exec-request.ts';
import { openHookServer } from './hook-server.ts';
import { type PushBuildDeps, preReceive } from './push-build.ts';

export type GitService = 'git-receive-pack' | 'git-upload-pack';

export type GitHandler = (
  actor: UserActor,
  service: GitService,
  repoArg: string,
  io: SessionIo,
) => Promise<number>;

export interface GitHandlerDeps {
  /** Apps and users; its connection also holds the push locks and reads build logs. */
  store: Store;
  paths: RepoPaths;
  /** The build queue, made on first use. */
  queue: () => Promise<BuildQueue>;
  /** PATH for git (computed once at the entry point: infra/bootstrap/programs.ts). */
  searchPath: string;
  log?: Logger;
  /** Where the per-push hook socket directories go; default os.tmpdir(). Keep it short (socket paths ≤ 107 bytes). */
  runtimeDir?: string;
  /** The push lock's TTL, renewed every third of it; default 30 s. */
  lockTtlMs?: number;
  /** How often a waiting push retries the lock; default 250 ms. */
  lockPollMs?: number;
  /** After the client went away: how long to wait for the cancelled build to end before releasing the lock; default 60 s. */
  cancelGraceMs?: number;
  /** A push stops waiting for its build after this long and fails; default 2 h. */
  maxBuildMs?: number;
}

/** The env request value git sends (GIT_PROTOCOL=version=2); anything else is dropped. */
const GIT_PROTOCOL = /^[A-Za-z0-9=:.,_-]{1,100}$/;

/**
 * The words of an exec command (split by cli/command-line.ts, which undoes
 * git's quoting: `git-receive-pack '/app.git'`) → the git service and its
 * repository argument; undefined when it is not a git service (a Berth
 * command). The argument is checked later by validate.repoPath.
 */
export function parseGitCommand(
  argv: readonly string[],
): { service: GitService; repoArg: string } | undefined {
  // Old clients send "git receive-pack"; git itself sends "git-receive-pack".
  const words = argv[0] === 'git' ? [`git-${argv[1] ?? ''}`, ...argv.slice(2)] : [...argv];
  const [name, repoArg = '', ...extra] = words;
  if (name !== 'git-receive-pack' && name !== 'git-upload-pack') return undefined;
  // More than one argument is not a repository; validate.repoPath refuses it with one line.
  return { service: name, repoArg: extra.length > 0 ? words.slice(1).join(' ') : repoArg };
}

// ------------------------------------------------------------------ git run

interface RunOptions {
  /** true once the hook has passed and git only updates refs: an abort leaves it to finish. */
  finishing?: () => boolean;
  /** After an abort, how long git may take to end by itself before it is killed; default 10 s. */
  stopAfterMs?: number;
  /** `-c name=value` options before the service (a push's quotas). */
  gitConfig?: readonly string[];
  /** Sees every chunk the client sends git. */
  onInput?: (chunk: Buffer) => void;
}

/**
 * Runs `git [-c ...] <receive-pack|upload-pack> <dir>` on the channel's
 * streams; resolves with git's exit status.
 *
 * On abort git gets end of input and its output is drained, so it ends by
 * itself: receive-pack, whose hook the hook server disconnects at the same
 * moment, sees the hook fail, rejects the push and removes its quarantine
 * (SIGTERM would leave the quarantine behind). Only a git still running
 * `stopAfterMs` later is killed. `finishing()` true means the hook has passed
 * and git only updates refs: it is left to finish.
 */
function runService(
  service: 'receive-pack' | 'upload-pack',
  dir: string,
  env: Record<string, string>,
  io: SessionIo,
  signal: AbortSignal,
  { finishing = () => false, stopAfterMs = 10_000, gitConfig = [], onInput }: RunOptions = {},
): Promise<number> {
  signal.throwIfAborted();
  return new Promise((resolve, reject) => {
    const child = spawn('git', [...gitConfig, service, dir], {
      cwd: dir,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stdin.on('error', () => {}); // git may exit before reading everything
    if (onInput) io.stdin.on('data', onInput);
    io.stdin.pipe(child.stdin);
    child.stdout.pipe(io.stdout as NodeJS.WritableStream, { end: false });
    child.stderr.pipe(io.stderr as NodeJS.WritableStream, { end: false });
    const timers: NodeJS.Timeout[] = [];
    const later = (ms: number, fn: () => void) => {
      const t = setTimeout(fn, ms);
      t.unref();
      timers.push(t);
    };
    const onAbort = () => {
      io.stdin.unpipe(child.stdin);
      child.stdin.end();
      // Nobody reads git's output any more; keep it flowing so git never blocks.
      child.stdout.unpipe();
      child.stderr.unpipe();
      child.stdout.resume();
      child.stderr.resume();
      if (finishing()) return;
      later(stopAfterMs, () => {
        child.kill('SIGTERM');
        later(5000, () => child.kill('SIGKILL'));
      });
    };
    signal.addEventListener('abort', onAbort, { once: true });
    const stopCounting = () => {
      if (onInput) io.stdin.removeListener('data', onInput);
    };
    child.on('error', (e) => {
      signal.removeEventListener('abort', onAbort);
      stopCounting();
      reject(new BerthError('BERTH_E_GIT_FAILED', { command: service, reason: e.message }));
    });
    child.on('close', (code) => {
      signal.removeEventListener('abort', onAbort);
      io.stdin.unpipe(child.stdin);
      stopCounting();
      for (const t of timers) clearTimeout(t);
      resolve(code ?? EXIT.failed);
    });
  });
}

// ---------------------------------------------------------------- handler

export function createGitHandler(deps: GitHandlerDeps): GitHandler {
  const { store, paths, queue, log } = deps;
  const redis = store.redis;
  const prefix = store.keys.prefix;
  const runtimeDir = deps.runtimeDir ?? os.tmpdir();
  const lockTtlMs = deps.lockTtlMs ?? 30_000;
  const lockPollMs = deps.lockPollMs ?? 250;
  const cancelGraceMs = deps.cancelGraceMs ?? 60_000;
  const maxBuildMs = deps.maxBuildMs ?? 2 * 3600_000;
  // The hook is `#!/usr/bin/env node`: the node running Berth comes first.
  const searchPath = [path.dirname(process.execPath), deps.searchPath].join(path.delimiter);
  const pushBuild: PushBuildDeps = {
    store,
    queue,
    paths,
    searchPath,
    cancelGraceMs,
    maxBuildMs,
    ...(log ? { log } : {}),
  };

  function serviceEnv(io: SessionIo): Record<string, string> {
    const env = gitEnv(searchPath, paths.repos);
    const protocol = io.env.GIT_PROTOCOL;
    if (protocol !== undefined && GIT_PROTOCOL.test(protocol)) env.GIT_PROTOCOL = protocol;
    return env;
  }

  /** The app if the actor may push to it; an admin's first push creates it. */
  async function authorize(actor: UserActor, app: string, service: GitService, io: SessionIo) {
    try {
      return await authorizeApp(store, actor, app, 'push');
    } catch (e) {
      const create =
        service === 'git-receive-pack' &&
        isAdmin(actor) &&
        isBerthError(e) &&
        e.code === 'BERTH_E_APP_NOT_FOUND';
      if (!create) throw e;
    }
    try {
      await store.apps.create({ name: app, owner: actor.user });
      io.stderr.write(`-----> Created app ${app}\n`);
      log?.info({ app, user: actor.user }, 'app created by its first push');
    } catch (e) {
      // Two first pushes at once: the other one created it.
      if (!isBerthError(e) || e.code !== 'BERTH_E_APP_EXISTS') throw e;
    }
    return authorizeApp(store, actor, app, 'push');
  }

  async function receive(actor: UserActor, app: App, dir: string, io: SessionIo) {
    const push = new AbortController();
    const onClientGone = () => push.abort(new Error('the client went away'));
    if (io.signal.aborted) onClientGone();
    io.signal.addEventListener('abort', onClientGone, { once: true });
    try {
      const who = actorName(actor);
      const replaced = new BerthError('BERTH_E_BUILD_SUPERSEDED', {
        what: 'push',
        app: app.name,
        by: ` by ${who}`,
      }).toLine();
      const lock = await acquireAppLock(redis, prefix, app.name, {
        who,
        what: 'push',
        ttlMs: lockTtlMs,
        pollMs: lockPollMs,
        signal: push.signal,
        onWait: async (first) => {
          if (first) io.stderr.write(`-----> Waiting for another push to ${app.name} to finish\n`);
          // The holder's build, if it still waits for a builder, gives way to this push.
          const id = await supersedeQueuedBuild(await queue(), app.name, replaced);
          if (id !== undefined) log?.info({ app: app.name, build: id }, 'queued build replaced');
        },
        onLost: () => {
          io.stderr.write(`berth: lost the build lock of ${app.name}; push again\n`);
          log?.warn({ app: app.name }, 'build lock lost');
          push.abort(new BerthError('BERTH_E_CONFLICT', { what: `the build lock of ${app.name}` }));
        },
      });
      try {
        // Refused here, git never runs: nothing is received, nothing built.
        const admission = await admitPush(store, paths, app.name);
        const state = { accepted: false };
        const hooks = await openHookServer(
          runtimeDir,
          preReceive(pushBuild, actor, app.name, dir, state),
          push.signal,
        );
        try {
          const env = { ...serviceEnv(io), BERTH_HOOK_SOCKET: hooks.socketPath };
          const meter = new PackMeter();
          const status = await runService('receive-pack', dir, env, io, push.signal, {
            finishing: () => state.accepted,
            gitConfig: admission.gitConfig,
            onInput: (chunk) => meter.observe(chunk),
          });
          const tooLarge = pushSizeRefusal(admission, meter);
          if (tooLarge) {
            io.stderr.write(`berth: ${tooLarge.toLine()}\n`);
            log?.info(
              { app: app.name, user: actor.user, bytes: meter.packBytes },
              'push too large',
            );
          }
          return status;
        } finally {
          await hooks.close();
          // What the push left (also after a refusal or a gc) is the owner's new figure.
          await recordRepoUsage(store, paths, app.name).catch((e: unknown) =>
            log?.warn({ err: e, app: app.name }, 'measuring the repository failed'),
          );
        }
      } finally {
        await lock.release();
      }
    } finally {
      io.signal.removeEventListener('abort', onClientGone);
    }
  }

  return async (actor, service, repoArg, io) => {
    try {
      const name = validate.repoPath(repoArg);
      const app = await authorize(actor, name, service, io);
      // A push on a full disk would fail half-way in git's or Redis's words
      // (unpack failed, MISCONF): refused before anything is written, in one line.
      if (service === 'git-receive-pack') await requireFreeSpace(paths.repos, 'a push');
      const dir = await ensureRepo(paths, name, {
        searchPath,
        headBranch: app.deployBranch,
      });
      if (service === 'git-upload-pack') {
        return await runService('upload-pack', dir, serviceEnv(io), io, io.signal);
      }
      return await receive(actor, app, dir, io);
    } catch (thrown) {
      const e = explainRedisFailure(thrown, redis);
      if (io.signal.aborted) return EXIT.failed;
      if (!isBerthError(e)) log?.error({ err: e, service, user: actor.user }, 'git service failed');
      io.stderr.write(`berth: ${errorLine(e)}\n`);
      return isBerthError(e) ? e.exitCode : EXIT.failed;
    }
  };
}
