// ssh-keys:* — the users and their SSH keys (admins only).

import { BerthError, EXIT } from '../../services/core/errors.ts';
import { ROLES, type Role } from '../../services/core/store/index.ts';
import * as validate from '../../services/core/validate.ts';
import { addSshKey } from '../../services/platform/accounts/ssh-keys.ts';
import type { Command, CommandContext } from '../command.ts';
import { formatOf, json, table } from '../output.ts';

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

export const sshKeysCommands: readonly Command[] = [
  {
    name: 'ssh-keys:add',
    usage: 'USER [--role admin|user] < KEY.pub',
    summary: 'register a public key for a user (created when new; the first user is an admin)',
    access: 'admin',
    arity: [1, 1],
    options: { role: { type: 'string' } },
    async run({ ctx, args, options }) {
      const [user = ''] = args;
      validate.userName(user);
      const role = options.role;
      if (role !== undefined && !(ROLES as readonly unknown[]).includes(role)) {
        throw new BerthError('BERTH_E_USAGE', { reason: `--role must be ${ROLES.join(' or ')}` });
      }
      if ((ctx.stdin as NodeJS.ReadStream).isTTY) {
        throw new BerthError('BERTH_E_USAGE', {
          reason: 'pass the key on standard input: berth ssh-keys:add USER < ~/.ssh/id_ed25519.pub',
        });
      }
      const publicKey = (await readStdin(ctx)).trim();
      const r = await addSshKey(await ctx.store(), {
        user,
        publicKey,
        ...(role ? { role: role as Role } : {}),
      });
      ctx.stdout.write(
        `added key ${r.key.fingerprint} (${r.key.type}) for ${r.createdUser ? 'new ' : ''}user ${r.user} (${r.role})\n`,
      );
      return EXIT.ok;
    },
  },
  {
    name: 'ssh-keys:list',
    usage: '[USER] [--format json]',
    summary: 'list the registered SSH keys and their users',
    access: 'admin',
    json: true,
    arity: [0, 1],
    async run({ ctx, args, options }) {
      const [user] = args;
      const keys = await (await ctx.store()).users.listKeys(user);
      if (formatOf(options) === 'json') {
        ctx.stdout.write(json(keys.map(({ key: _blob, ...rest }) => rest)));
      } else {
        ctx.stdout.write(table(keys.map((k) => [k.user, k.fingerprint, k.type, k.comment])));
      }
      return EXIT.ok;
    },
  },
  {
    name: 'ssh-keys:remove',
    usage: 'USER|FINGERPRINT',
    summary:
      "remove one key by fingerprint, or a user's keys and the user; with a user's last key go their API tokens and web sessions",
    access: 'admin',
    arity: [1, 1],
    async run({ ctx, args }) {
      const [target = ''] = args;
      const store = await ctx.store();
      if (target.startsWith('SHA256:')) {
        const r = await store.users.removeKey(target);
        ctx.stdout.write(`removed key ${target} of user ${r.user}\n`);
        if (r.lastKey) {
          // Heroku's and Fly's "remove a member" ends every way in; a user
          // without a key has no way in over SSH, so their tokens and
          // browser sessions stop at once too (issue 16), not when they expire.
          ctx.stdout.write(
            `it was ${r.user}'s last key: revoked ${r.tokensRevoked} API ${r.tokensRevoked === 1 ? 'token' : 'tokens'} and ended every web session of ${r.user}; "berth ssh-keys:add ${r.user}" lets them in again\n`,
          );
        }
      } else {
        const name = validate.userName(target);
        if (ctx.actor.kind === 'user' && ctx.actor.user === name) {
          throw new BerthError('BERTH_E_USAGE', {
            reason:
              'you cannot remove yourself; ask another admin, or remove single keys by fingerprint',
          });
        }
        await store.users.remove(name);
        ctx.stdout.write(
          `removed user ${name}, their keys and API tokens; their web sessions have ended\n`,
        );
      }
      return EXIT.ok;
    },
  },
];
