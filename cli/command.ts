// The shape of a Berth command. One table of these (cli/registry.ts) serves
// the server-local `berth`, the SSH command channel and the laptop client,
// so parsing, help text, permissions and errors are the same everywhere.
import type { ParseArgsConfig } from 'node:util';
import type { HostFacts } from '../infra/start.ts';
import type { Actor } from '../services/core/actor.ts';
import type { Config } from '../services/core/config.ts';
import type { App, Store } from '../services/core/store/index.ts';
import type { ClientTerminal } from '../services/core/terminal.ts';
import type { AppAction } from '../services/platform/apps/access.ts';

export interface CommandIo {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

export interface CommandContext extends CommandIo {
  actor: Actor;
  /** Read and validated on first use, so `help` works with a broken environment. */
  config(): Config;
  /** Opened on first use and closed by the dispatcher. */
  store(): Promise<Store>;
  /** Present only for the server-local `berth` run as root. */
  host: HostFacts | undefined;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
  /** The client's terminal (ssh -t); stdout and stderr already end lines for it. */
  terminal?: ClientTerminal;
  /**
   * More labels on the datastores' containers, volumes and networks the
   * command makes (tests: berth.test-run, so that what a killed test run
   * left is found by its id).
   */
  dockerLabels?: Readonly<Record<string, string>>;
}

/**
 * Who may run a command: 'anyone' signed in; 'admin' only; 'local' only root
 * on the server (start, stack:rebuild); an AppAction for commands on one app
 * (the app is the first argument, checked by the dispatcher).
 */
export type Access = 'anyone' | 'admin' | 'local' | { app: AppAction };

export type OptionValues = Record<string, string | boolean | undefined>;

export interface Invocation {
  ctx: CommandContext;
  /** The app the command is about, already authorized, for app commands. */
  app: App | undefined;
  /** Positional arguments after the app. */
  args: string[];
  options: OptionValues;
  /** A *:report command's one-value flag (--checks-disabled-list), checked by cli/report.ts. */
  reportFlag?: string;
}

export interface Command {
  /** namespace:verb, or a bare word (help, version). */
  name: string;
  /** Arguments as `help` shows them, APP included for app commands. */
  usage: string;
  summary: string;
  access: Access;
  options?: NonNullable<ParseArgsConfig['options']>;
  /** Its first argument is an app name although access is not per app (apps:create). */
  takesApp?: boolean;
  /**
   * Flags with which a takesApp command is about no app (certs:add
   * --platform): the laptop client then fills in none from its git remote.
   */
  appless?: readonly string[];
  /**
   * Takes Dokku's `--global` in place of APP: the command is then about the
   * platform-wide default (services/core/store/platform-settings.ts), run
   * with no app. 'admin': admins only (a change, or values that may be
   * secret); 'read': anyone signed in. The dispatcher declares the option.
   */
  global?: 'admin' | 'read';
  /**
   * Hands the client's terminal to a program with a TTY of its own (run):
   * stdin comes raw, keystroke by keystroke. Other commands read it as lines.
   */
  ownsTerminal?: true;
  /**
   * Everything after the app is the command's, as Dokku's `run` has it:
   * `run APP ls -la` runs `ls -la`. Options are read only before the app.
   */
  passThrough?: true;
  /**
   * A Dokku-style report: any --FLAG it does not declare is a one-value
   * flag for cli/report.ts (derived from the report's labels), not an error.
   */
  report?: true;
  /**
   * A Dokku command that only makes sense inside Dokku (nginx's files,
   * plugins, herokuish): the one line of what Berth does instead, which its
   * run() answers with (BERTH_E_DOKKU_DIFFERENT). Made by cli/dokku-only.ts;
   * docs/dokku-compatibility.md lists these as "Berth does instead".
   */
  instead?: string;
  /** Takes --format json (data commands). */
  json?: boolean;
  /** How many positional arguments after the app: [min, max]; max Infinity for lists. */
  arity: readonly [number, number];
  /** Returns the exit code. Throws BerthError for failures the user should see. */
  run(call: Invocation): Promise<number>;
}

export type { HostFacts };

export const namespaceOf = (name: string): string => name.split(':')[0] ?? name;
