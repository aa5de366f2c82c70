// auth:* — signing in to the web app and API tokens.

import { EXIT } from '../../services/core/errors.ts';
import {
  DEFAULT_TOKEN_LIFETIME,
  issueToken,
  listTokens,
  revokeToken,
} from '../../services/platform/accounts/api-tokens.ts';
import { createLoginLink } from '../../services/platform/accounts/sign-in.ts';
import type { Command } from '../command.ts';
import { formatOf, json, table } from '../output.ts';

const optionalString = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

export const authCommands: readonly Command[] = [
  {
    name: 'auth:login',
    usage: '[--user NAME] [--format json]',
    summary: 'print a one-time link that signs you in to the web app (5 minutes, once)',
    access: 'anyone',
    json: true,
    arity: [0, 0],
    options: { user: { type: 'string' } },
    async run({ ctx, options }) {
      const link = await createLoginLink(await ctx.store(), ctx.config(), ctx.actor, {
        user: optionalString(options.user),
      });
      if (formatOf(options) === 'json') {
        ctx.stdout.write(
          json({ url: link.url, user: link.user, expiresAt: link.expiresAt.toISOString() }),
        );
        return EXIT.ok;
      }
      ctx.stdout.write(
        `-----> Sign-in link for ${link.user} (works once, for 5 minutes):\n` +
          `       ${link.url}\n` +
          `       Note: ${link.note}\n`,
      );
      return EXIT.ok;
    },
  },
  {
    name: 'auth:token',
    usage: `[--name NAME] [--expires 30d] [--read-only] [--user NAME] [--format json]`,
    summary: `issue an API token (shown once; --expires in m, h or d, default ${DEFAULT_TOKEN_LIFETIME}; --read-only: it may only look, config values not included)`,
    access: 'anyone',
    json: true,
    arity: [0, 0],
    options: {
      name: { type: 'string' },
      expires: { type: 'string' },
      user: { type: 'string' },
      'read-only': { type: 'boolean' },
    },
    async run({ ctx, options }) {
      const { secret, token } = await issueToken(await ctx.store(), ctx.actor, {
        name: optionalString(options.name),
        expires: optionalString(options.expires),
        user: optionalString(options.user),
        readOnly: options['read-only'] === true,
      });
      if (formatOf(options) === 'json') {
        ctx.stdout.write(json({ ...token, token: secret }));
        return EXIT.ok;
      }
      ctx.stdout.write(
        `-----> ${token.scope === 'read' ? 'Read-only API token' : 'API token'} ${token.id} "${token.name}" for ${token.user}, expires ${token.expiresAt}\n` +
          `       ${secret}\n` +
          '       It is shown only this once. Send it as "Authorization: Bearer TOKEN";\n' +
          `       revoke it with "berth auth:revoke ${token.id}".\n`,
      );
      return EXIT.ok;
    },
  },
  {
    name: 'auth:tokens',
    usage: '[--all] [--format json]',
    summary: 'list your API tokens (admins: --all for everyone’s); never their secrets',
    access: 'anyone',
    json: true,
    arity: [0, 0],
    options: { all: { type: 'boolean' } },
    async run({ ctx, options }) {
      const tokens = await listTokens(await ctx.store(), ctx.actor, { all: options.all === true });
      if (formatOf(options) === 'json') {
        ctx.stdout.write(json(tokens));
        return EXIT.ok;
      }
      if (tokens.length === 0) {
        ctx.stdout.write('no API tokens; issue one with "berth auth:token --name NAME"\n');
        return EXIT.ok;
      }
      const now = new Date().toISOString();
      ctx.stdout.write(
        table([
          ['id', 'name', 'user', 'scope', 'created', 'expires', 'last used'],
          ...tokens.map((t) => [
            t.id,
            t.name,
            t.user,
            t.scope,
            t.createdAt,
            t.expiresAt <= now ? `${t.expiresAt} (expired)` : t.expiresAt,
            t.lastUsedAt ?? 'never',
          ]),
        ]),
      );
      return EXIT.ok;
    },
  },
  {
    name: 'auth:revoke',
    usage: 'ID',
    summary: 'revoke an API token at once (admins: anyone’s)',
    access: 'anyone',
    arity: [1, 1],
    async run({ ctx, args }) {
      const [id = ''] = args;
      const user = await revokeToken(await ctx.store(), ctx.actor, id);
      ctx.stdout.write(`revoked API token ${id} of ${user}\n`);
      return EXIT.ok;
    },
  },
];
