// Certificate commands name an app, or with --platform the status page's
// host (BERTH_STATUS_HOST, else the bare BERTH_DOMAIN, which no app has): `certs:add APP` or
// `certs:add --platform`. The dispatcher cannot check the app of such a
// command (its access is per app only without the flag), so this does, the
// way the dispatcher would: --platform is for admins and takes no app; an
// app is authorized for the action. The laptop client fills in no app when
// the flag is given (Command.appless), so a stray app is refused, not ignored.

import { BerthError } from '../services/core/errors.ts';
import type { App } from '../services/core/store/index.ts';
import * as validate from '../services/core/validate.ts';
import { type AppAction, authorizeApp, requireAdmin } from '../services/platform/apps/access.ts';
import type { Command, Invocation } from './command.ts';

/** The option, for a command's `options` and `appless`. */
export const PLATFORM_OPTION = { platform: { type: 'boolean' } } as const;
export const PLATFORM_FLAG = '--platform';

/**
 * What a command about an app or, with --platform, about BERTH_DOMAIN
 * declares: anyone may call it (targetOf asks the app's right, or an admin
 * for --platform), and the laptop client fills in no app beside --platform.
 */
export const APP_OR_PLATFORM = {
  access: 'anyone',
  takesApp: true,
  appless: [PLATFORM_FLAG],
  options: PLATFORM_OPTION,
} satisfies Pick<Command, 'access' | 'takesApp' | 'appless' | 'options'>;

export type Target =
  | { kind: 'app'; app: App; args: string[] }
  | { kind: 'platform'; domain: string };

type Named = Pick<Command, 'name' | 'usage'>;

const usage = (command: Named, reason: string) =>
  new BerthError('BERTH_E_USAGE', {
    reason: `${reason}; usage: berth ${command.name} ${command.usage}`,
  });

/**
 * The command's target; `arity` counts the arguments after the app, as
 * Command.arity does for app commands. --platform takes no argument.
 */
export async function targetOf(
  command: Named,
  call: Invocation,
  action: AppAction,
  arity: readonly [number, number],
): Promise<Target> {
  const { ctx, args, options } = call;
  if (options.platform === true) {
    requireAdmin(ctx.actor, `${command.name} ${PLATFORM_FLAG}`);
    const domain = ctx.config().statusHost;
    if (args.length > 0) {
      throw usage(
        command,
        `${PLATFORM_FLAG} is for the status page's host (${domain}) and takes no other argument (got "${args[0]}")`,
      );
    }
    return { kind: 'platform', domain };
  }
  const [name, ...rest] = args;
  if (name === undefined) throw usage(command, `name the app, or give ${PLATFORM_FLAG}`);
  const app = await authorizeApp(await ctx.store(), ctx.actor, validate.appName(name), action);
  if (rest.length < arity[0]) throw usage(command, 'missing argument');
  if (rest.length > arity[1]) throw usage(command, `unexpected argument "${rest[arity[1]]}"`);
  return { kind: 'app', app, args: rest };
}
