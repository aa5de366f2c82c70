// The laptop client: `berth COMMAND ...` inside an app's git checkout runs
// the command over SSH on the Berth server named by the git remote `deploy`
// (or --remote NAME), filling in the app from the remote's URL, as Dokku's
// client does. The command table is the same one the server uses, so the
// client knows which commands take an app.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { BerthError } from '../services/core/errors.ts';
import * as validate from '../services/core/validate.ts';
import { takeGlobalFlags } from './command-line.ts';
import { findCommand } from './registry.ts';

const run = promisify(execFile);

export interface Remote {
  user: string;
  host: string;
  port: number | undefined;
  app: string;
}

/** ssh://berth@host:2222/app(.git) or the scp-like berth@host:app(.git). */
export function parseRemoteUrl(url: string): Remote {
  const bad = (reason: string) =>
    new BerthError('BERTH_E_USAGE', { reason: `git remote URL ${JSON.stringify(url)}: ${reason}` });
  let user: string;
  let host: string;
  let port: number | undefined;
  let repo: string;
  if (url.startsWith('ssh://')) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw bad('not a URL');
    }
    user = decodeURIComponent(u.username) || 'berth';
    host = u.hostname.replace(/^\[|\]$/g, '');
    port = u.port ? validate.port(u.port) : undefined;
    repo = decodeURIComponent(u.pathname);
  } else {
    const m = /^(?:([^@/:]+)@)?([^:/]+):(.+)$/.exec(url);
    if (!m) throw bad('use ssh://berth@HOST:2222/APP');
    user = m[1] ?? 'berth';
    host = m[2] ?? '';
    repo = m[3] ?? '';
  }
  // ssh would read a leading "-" in user@host as an option (-oProxyCommand=...).
  if (host === '' || !/^[A-Za-z0-9.:_-]+$/.test(host) || host.startsWith('-'))
    throw bad('not a host name');
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(user)) throw bad('not a user name');
  return { user, host, port, app: validate.repoPath(repo) };
}

/** The URL of a git remote of the checkout in cwd, or undefined (no checkout, no such remote). */
export async function remoteUrl(name: string, cwd: string): Promise<string | undefined> {
  try {
    const { stdout } = await run('git', ['remote', 'get-url', '--', name], { cwd });
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * The ssh program to run: the checkout's `core.sshCommand` when set (so one
 * setting serves `git push` and berth commands), else `ssh`. git runs that
 * setting through the shell; so do we, with our arguments as "$@", never
 * pasted into the string.
 */
export async function sshCommand(cwd: string): Promise<{ file: string; args: string[] }> {
  try {
    const { stdout } = await run('git', ['config', '--get', 'core.sshCommand'], { cwd });
    const configured = stdout.trim();
    if (configured !== '') return { file: 'sh', args: ['-c', `${configured} "$@"`, 'ssh'] };
  } catch {}
  return { file: 'ssh', args: [] };
}

/** Quotes one word for the server's command-line splitter (cli/command-line.ts). */
export function quoteWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * The argv to send: the app from the remote goes in first for commands
 * about an app, unless `--app NAME` / `-a NAME` names another.
 */
export function remoteArgv(argv: readonly string[], remote: Remote): string[] {
  // Dokku's global flags may come first (`berth --app shop --quiet config`):
  // --app is the client's to fill in; the others go on to the server.
  const { flags, rest } = takeGlobalFlags(argv);
  const out = [...rest];
  let app = flags.app === undefined ? remote.app : validate.appName(flags.app);
  const passed = [
    ...(flags.quiet ? ['--quiet'] : []),
    ...(flags.trace ? ['--trace'] : []),
    ...(flags.force ? ['--force'] : []),
  ];
  const isFlag = (a: string | undefined) => a === '--app' || a === '-a';
  // A pass-through command's words after its options are the user's
  // (`berth run ls -a`): --app is looked for only among its options.
  let end = out.length;
  if (findCommand(out[0] ?? '')?.passThrough) {
    end = 1;
    while (out[end]?.startsWith('-') && out[end] !== '--') end += isFlag(out[end]) ? 2 : 1;
  }
  const flag = out.slice(0, end).findIndex(isFlag);
  if (flag !== -1) {
    app = validate.appName(out[flag + 1] ?? '');
    out.splice(flag, 2);
  }
  const [name] = out;
  const command = name === undefined ? undefined : findCommand(name);
  const appless =
    command?.appless?.some((flag) => out.includes(flag)) === true ||
    (command?.global !== undefined && out.includes('--global'));
  if (command && !appless && (typeof command.access === 'object' || command.takesApp)) {
    out.splice(1, 0, app);
  }
  return [...passed, ...out];
}

/**
 * The ssh command line that runs argv on the remote's server; `terminal`
 * asks for a pty (-t), which a command that owns the terminal (run) uses.
 */
export function sshArgs(remote: Remote, argv: readonly string[], terminal = false): string[] {
  const tty = terminal && findCommand(argv[0] ?? '')?.ownsTerminal === true;
  return [
    ...(tty ? ['-t'] : []),
    ...(remote.port ? ['-p', String(remote.port)] : []),
    `${remote.user}@${remote.host}`,
    '--',
    argv.map(quoteWord).join(' '),
  ];
}
