// The `berth` entry point: the only place that reads process.env, parses
// argv and calls process.exit. Inside an app's checkout with a `deploy` git
// remote (or --remote NAME) it sends the command over SSH to that Berth;
// otherwise, as root on the server, it runs the command here.
import { spawn } from 'node:child_process';
import { ROOT } from '../services/core/actor.ts';
import { type Config, ConfigError, loadConfig } from '../services/core/config.ts';
import { BerthError, EXIT, errorLine } from '../services/core/errors.ts';
import { systemSearchPath } from '../services/core/programs.ts';
import type { Store } from '../services/core/store/index.ts';
import type { CommandContext } from './command.ts';

/** Takes `--remote NAME` out of argv. */
function takeRemoteFlag(argv: string[]): string | undefined {
  const i = argv.indexOf('--remote');
  if (i === -1) return undefined;
  const name = argv[i + 1];
  if (name === undefined || name.startsWith('-')) {
    throw new BerthError('BERTH_E_USAGE', { reason: '--remote needs the name of a git remote' });
  }
  argv.splice(i, 2);
  return name;
}

async function overSsh(argv: string[], url: string): Promise<number> {
  const { parseRemoteUrl, remoteArgv, sshArgs, sshCommand } = await import('./remote.ts');
  const remote = parseRemoteUrl(url);
  const ssh = await sshCommand(process.cwd());
  // A terminal on both ends: `berth run bash` gets a pty, as `ssh -t` would.
  const terminal = process.stdin.isTTY === true && process.stdout.isTTY === true;
  const args = sshArgs(remote, remoteArgv(argv, remote), terminal);
  const child = spawn(ssh.file, [...ssh.args, ...args], { stdio: 'inherit' });
  return new Promise((resolve, reject) => {
    child.on('error', (e) =>
      reject(
        new BerthError('BERTH_E_USAGE', {
          reason: `cannot run ssh (${e.message}); install OpenSSH`,
        }),
      ),
    );
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + 2 : 1)));
  });
}

async function local(argv: string[]): Promise<number> {
  let config: Config | undefined;
  let store: Promise<Store> | undefined;
  const controller = new AbortController();
  const ctx: CommandContext = {
    actor: ROOT,
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    signal: controller.signal,
    config: () => {
      config ??= loadConfig(process.env);
      return config;
    },
    store: () => {
      store ??= import('../services/core/store/index.ts').then((m) => m.openStore(ctx.config()));
      return store;
    },
    host: {
      searchPath: systemSearchPath(process.env.PATH),
      isRoot: process.getuid?.() === 0,
      baseEnv: process.env,
    },
  };
  try {
    // A bad environment is reported in full (one line per variable) before anything runs.
    if (!['help', 'version', '--help', '-h', '--version'].includes(argv[0] ?? 'help')) ctx.config();
    const { dispatch } = await import('./dispatch.ts');
    return await dispatch(argv, ctx);
  } finally {
    if (store) await (await store.catch(() => undefined))?.close();
  }
}

/**
 * `berth start` as `npm start` runs it: the supervisor, which lives as long
 * as Berth does, loads only what starting needs, not every command's code.
 */
async function startHere(): Promise<number> {
  const config = loadConfig(process.env);
  const { start } = await import('../infra/start.ts');
  return start(config, {
    searchPath: systemSearchPath(process.env.PATH),
    isRoot: process.getuid?.() === 0,
    baseEnv: process.env,
  });
}

async function main(argv: string[]): Promise<number> {
  if (argv.length === 1 && argv[0] === 'start') return startHere();
  const remoteName = takeRemoteFlag(argv);
  // Loaded here, not at the top: `berth start` runs as the supervisor all
  // the while Berth runs, and needs none of the commands (issue 17).
  const { findCommand } = await import('./registry.ts');
  const { remoteUrl } = await import('./remote.ts');
  const command = argv[0] === undefined ? undefined : findCommand(argv[0]);
  // start and stack:rebuild act on this machine, whatever the checkout says.
  if (command?.access !== 'local') {
    const url = await remoteUrl(remoteName ?? 'deploy', process.cwd());
    if (url !== undefined) return overSsh(argv, url);
    if (remoteName !== undefined) {
      throw new BerthError('BERTH_E_USAGE', { reason: `no git remote named ${remoteName} here` });
    }
  }
  // Other commands act on Berth's state: root on the server only.
  if (command?.access !== 'local' && process.getuid?.() !== 0) {
    throw new BerthError('BERTH_E_USAGE', {
      reason:
        "no git remote named deploy here; run berth inside your app's checkout (git remote add deploy ssh://berth@HOST:2222/APP), or as root on the Berth server",
    });
  }
  return local(argv);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof ConfigError) {
      for (const p of e.problems) process.stderr.write(`berth: ${p.toLine()}\n`);
      process.exit(EXIT.usage);
    }
    process.stderr.write(`berth: ${errorLine(e)}\n`);
    process.exit(e instanceof BerthError ? e.exitCode : EXIT.failed);
  },
);
