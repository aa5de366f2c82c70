// The command table. Issue 3 brings the full Dokku-style grammar; these are
// the commands the foundation needs on the server itself.

import { prepareDataDir } from '../infra/bootstrap/data-dir.ts';
import { ensureDockerEngine } from '../infra/bootstrap/docker-engine.ts';
import { createProgress } from '../infra/bootstrap/progress.ts';
import { ensureStackImage } from '../infra/bootstrap/stack-image.ts';
import { start } from '../infra/start.ts';
import { addSshKey } from '../services/accounts/ssh-keys.ts';
import { createDockerClient } from '../services/core/docker.ts';
import { BerthError, EXIT } from '../services/core/errors.ts';
import { openStore, ROLES, type Role } from '../services/core/store/index.ts';
import { VERSION } from '../services/core/version.ts';
import type { Command, CommandContext } from './command.ts';

/** Reads a bounded amount of stdin: a public key is a few KB at most. */
async function readStdin(ctx: CommandContext, limit = 64 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.stdin) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += b.length;
    if (size > limit)
      throw new BerthError('BERTH_E_KEY_INVALID', { reason: 'input larger than 64 KB' });
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Runs fn with the state store, closing it after. */
async function withStore<T>(
  ctx: CommandContext,
  fn: (store: Awaited<ReturnType<typeof openStore>>) => Promise<T>,
) {
  const store = await openStore(ctx.config());
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

export const COMMANDS: readonly Command[] = [
  {
    name: 'start',
    args: '',
    summary: 'install what is missing, then run every Berth service until Ctrl-C',
    run: (ctx) => start(ctx.config(), ctx.host),
  },
  {
    name: 'stack:rebuild',
    args: '',
    summary: 'rebuild the Debian 12 stack image that builds and apps run on',
    async run(ctx) {
      const config = ctx.config();
      const progress = createProgress(ctx.stderr as NodeJS.WriteStream);
      const paths = await prepareDataDir(config.dataDir);
      await ensureDockerEngine({
        config,
        progress,
        logDir: paths.logs,
        searchPath: ctx.host.searchPath,
      });
      const docker = await createDockerClient(config);
      await ensureStackImage({
        docker,
        image: config.stackImage,
        progress,
        rebuild: true,
        workDir: paths.stack,
      });
      return EXIT.ok;
    },
  },
  {
    name: 'ssh-keys:add',
    args: 'USER [--role admin|user] < KEY.pub',
    summary: 'register a public key for a user (created when new; the first user is an admin)',
    options: { role: { type: 'string' } },
    async run(ctx, positionals, values) {
      const [user, ...extra] = positionals;
      if (user === undefined || extra.length > 0) {
        throw new BerthError('BERTH_E_USAGE', {
          reason: 'usage: berth ssh-keys:add USER < KEY.pub',
        });
      }
      const roleArg = values.role;
      if (roleArg !== undefined && !(ROLES as readonly unknown[]).includes(roleArg)) {
        throw new BerthError('BERTH_E_USAGE', { reason: `--role must be ${ROLES.join(' or ')}` });
      }
      if ((ctx.stdin as NodeJS.ReadStream).isTTY) {
        throw new BerthError('BERTH_E_USAGE', {
          reason: 'pass the key on standard input: berth ssh-keys:add USER < ~/.ssh/id_ed25519.pub',
        });
      }
      const publicKey = (await readStdin(ctx)).trim();
      const r = await withStore(ctx, (store) =>
        addSshKey(store, { user, publicKey, ...(roleArg ? { role: roleArg as Role } : {}) }),
      );
      ctx.stdout.write(
        `added key ${r.key.fingerprint} (${r.key.type}) for ${r.createdUser ? 'new ' : ''}user ${r.user} (${r.role})\n`,
      );
      return EXIT.ok;
    },
  },
  {
    name: 'ssh-keys:list',
    args: '[USER] [--format json]',
    summary: 'list the registered SSH keys and their users',
    options: { format: { type: 'string' } },
    async run(ctx, positionals, values) {
      const format = values.format ?? 'text';
      if (format !== 'text' && format !== 'json') {
        throw new BerthError('BERTH_E_USAGE', { reason: '--format must be text or json' });
      }
      const [user] = positionals;
      const keys = await withStore(ctx, (store) => store.users.listKeys(user));
      if (format === 'json') {
        ctx.stdout.write(
          `${JSON.stringify(
            keys.map(({ key: _blob, ...rest }) => rest),
            null,
            2,
          )}\n`,
        );
      } else {
        for (const k of keys)
          ctx.stdout.write(`${k.user}\t${k.fingerprint}\t${k.type}\t${k.comment}\n`);
      }
      return EXIT.ok;
    },
  },
  {
    name: 'version',
    args: '',
    summary: "print Berth's version",
    async run(ctx) {
      ctx.stdout.write(`berth ${VERSION}\n`);
      return EXIT.ok;
    },
  },
  {
    name: 'help',
    args: '',
    summary: 'list the commands',
    async run(ctx) {
      ctx.stdout.write(helpText());
      return EXIT.ok;
    },
  },
];

export function helpText(): string {
  const width = Math.max(...COMMANDS.map((c) => `${c.name} ${c.args}`.length));
  const rows = COMMANDS.map((c) => `  ${`${c.name} ${c.args}`.padEnd(width)}  ${c.summary}`);
  return `Usage: berth COMMAND [APP] [ARGS...]\n\nCommands:\n${rows.join('\n')}\n`;
}
