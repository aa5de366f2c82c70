// notifications:* — an app's webhooks: deploy started, succeeded, failed,
// rolled back, certificate renewal failed, instance crash-looping, as
// Berth's signed JSON or a Slack or Discord message (services/platform/notify/).
import { actorName } from '../../services/core/actor.ts';
import { EXIT } from '../../services/core/errors.ts';
import { NOTIFY_EVENTS } from '../../services/core/store/index.ts';
import { addWebhook, hookView } from '../../services/platform/notify/hooks.ts';
import type { Command } from '../command.ts';
import { formatOf, json, table } from '../output.ts';

const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

export const notificationsCommands: readonly Command[] = [
  {
    name: 'notifications:add',
    usage: 'APP URL [--type json|slack|discord] [--events LIST] [--format json]',
    summary: `send the app's events to a webhook (--events: all, or some of ${NOTIFY_EVENTS.join(', ')}); prints its signing secret once`,
    access: { app: 'push' },
    json: true,
    options: { type: { type: 'string' }, events: { type: 'string' } },
    arity: [1, 1],
    async run({ ctx, app, args, options }) {
      if (!app) return EXIT.failed;
      const hook = await addWebhook(await ctx.store(), app.name, actorName(ctx.actor), {
        url: args[0] ?? '',
        format: text(options.type),
        events: text(options.events),
      });
      if (formatOf(options) === 'json') {
        ctx.stdout.write(json({ ...hookView(hook), secret: hook.secret }));
        return EXIT.ok;
      }
      const view = hookView(hook);
      ctx.stdout.write(
        `-----> Webhook ${hook.id} added to ${app.name}: ${view.url} (${hook.format}; ${view.events.join(', ')})\n` +
          `       Signing secret (shown only now): ${hook.secret}\n` +
          '       Each request carries X-Berth-Signature: sha256=HMAC-SHA256(secret, body) in hex\n',
      );
      return EXIT.ok;
    },
  },
  {
    name: 'notifications:list',
    usage: 'APP [--format json]',
    summary: "list the app's webhooks (their URLs' paths hidden)",
    access: { app: 'read' },
    json: true,
    arity: [0, 0],
    async run({ ctx, app, options }) {
      if (!app) return EXIT.failed;
      const hooks = (await (await ctx.store()).notifications.list(app.name)).map(hookView);
      if (formatOf(options) === 'json') ctx.stdout.write(json(hooks));
      else if (hooks.length === 0) ctx.stdout.write(`       ${app.name} has no webhooks\n`);
      else
        ctx.stdout.write(
          table([
            ['ID', 'TYPE', 'EVENTS', 'URL'],
            ...hooks.map((h) => [h.id, h.format, h.events.join(','), h.url]),
          ]),
        );
      return EXIT.ok;
    },
  },
  {
    name: 'notifications:remove',
    usage: 'APP ID',
    summary: 'remove a webhook (deliveries waiting for it are dropped)',
    access: { app: 'push' },
    arity: [1, 1],
    async run({ ctx, app, args }) {
      if (!app) return EXIT.failed;
      const id = args[0] ?? '';
      await (await ctx.store()).notifications.remove(app.name, id);
      ctx.stdout.write(`-----> Webhook ${id} removed from ${app.name}\n`);
      return EXIT.ok;
    },
  },
  {
    name: 'notifications:deliveries',
    usage: 'APP [--format json]',
    summary: "the app's newest webhook deliveries: event, attempts, last answer or error, when",
    access: { app: 'read' },
    json: true,
    arity: [0, 0],
    async run({ ctx, app, options }) {
      if (!app) return EXIT.failed;
      const deliveries = await (await ctx.store()).notifications.deliveries(app.name);
      if (formatOf(options) === 'json') {
        ctx.stdout.write(json(deliveries));
        return EXIT.ok;
      }
      if (deliveries.length === 0) {
        ctx.stdout.write(`       ${app.name} has no deliveries yet\n`);
        return EXIT.ok;
      }
      const rows = deliveries.map((d) => {
        const last = d.attempts.at(-1);
        const answer = last?.error ?? (last?.code === undefined ? '' : String(last.code));
        return [last?.at ?? '', d.event, d.hook, d.state, String(d.attempts.length), answer];
      });
      ctx.stdout.write(
        table([['WHEN', 'EVENT', 'WEBHOOK', 'STATE', 'ATTEMPTS', 'LAST ANSWER'], ...rows]),
      );
      return EXIT.ok;
    },
  },
];
