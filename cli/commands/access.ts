// access:* — collaborators, who may push to an app and run its commands.

import { EXIT } from '../../services/core/errors.ts';
import { addCollaborator, removeCollaborator } from '../../services/platform/apps/apps.ts';
import type { Command } from '../command.ts';
import { formatOf, json, table } from '../output.ts';

export const accessCommands: readonly Command[] = [
  {
    name: 'access:add',
    usage: 'APP USER',
    summary: 'let a user push to the app and run its commands',
    access: { app: 'manage' },
    arity: [1, 1],
    async run({ ctx, app, args }) {
      if (!app) return EXIT.failed;
      const [user = ''] = args;
      const added = await addCollaborator(await ctx.store(), app, user);
      ctx.stdout.write(
        added
          ? `-----> ${user} may now push to ${app.name}\n`
          : `       ${user} could already push to ${app.name}\n`,
      );
      return EXIT.ok;
    },
  },
  {
    name: 'access:remove',
    usage: 'APP USER',
    summary: "take a collaborator's access away",
    access: { app: 'manage' },
    arity: [1, 1],
    async run({ ctx, app, args }) {
      if (!app) return EXIT.failed;
      const [user = ''] = args;
      const removed = await removeCollaborator(await ctx.store(), app, user);
      ctx.stdout.write(
        removed
          ? `-----> ${user} no longer has access to ${app.name}\n`
          : `       ${user} was not a collaborator on ${app.name}\n`,
      );
      return EXIT.ok;
    },
  },
  {
    name: 'access:list',
    usage: 'APP [--format json]',
    summary: "list the app's owner and collaborators",
    access: { app: 'read' },
    json: true,
    arity: [0, 0],
    async run({ ctx, app, options }) {
      if (!app) return EXIT.failed;
      const people = [
        { user: app.owner, access: 'owner' },
        ...app.collaborators.map((user) => ({ user, access: 'collaborator' })),
      ];
      if (formatOf(options) === 'json') ctx.stdout.write(json(people));
      else ctx.stdout.write(table(people.map((p) => [p.user, p.access])));
      return EXIT.ok;
    },
  },
];
