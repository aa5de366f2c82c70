// Per-user quotas: what quota:set and quota:report do. The caps are enforced
// in the store, where apps, releases and builds are admitted
// (services/core/store/quotas.ts); this is how admins set them and users see
// where they stand.
import { type Actor, isAdmin } from '../../core/actor.ts';
import { PROCESS_TYPES_MAX } from '../../core/config.ts';
import { BerthError } from '../../core/errors.ts';
import {
  QUOTAS,
  type QuotaName,
  type QuotaPatch,
  type QuotaReport,
  SIZE_QUOTAS,
  type Store,
} from '../../core/store/index.ts';
import * as validate from '../../core/validate.ts';

const usage = (reason: string) => new BerthError('BERTH_E_USAGE', { reason });

/** The value of one QUOTA=VALUE: a count, a size (push-size, disk: 512m) or unlimited. */
function capOf(name: QuotaName, value: string): number | null {
  if (SIZE_QUOTAS.includes(name)) return validate.quotaSize(value);
  return validate.quotaCap(value, name === 'process-types' ? PROCESS_TYPES_MAX : undefined);
}

/** "apps=10 disk=5g build-minutes=unlimited instances=default" → the change quota:set makes. */
export function parseQuotas(args: readonly string[]): QuotaPatch {
  if (args.length === 0) {
    throw usage(`give QUOTA=N for one or more of ${QUOTAS.join(', ')} (or =unlimited, =default)`);
  }
  const patch: QuotaPatch = {};
  for (const arg of args) {
    const m = /^([a-z-]+)=(.*)$/.exec(arg);
    const name = m?.[1] as QuotaName | undefined;
    if (!m || name === undefined || !(QUOTAS as readonly string[]).includes(name)) {
      throw usage(
        `"${arg.slice(0, 40)}" is not QUOTA=N; the quotas are ${QUOTAS.join(', ')}, such as apps=10`,
      );
    }
    const value = m[2] ?? '';
    patch[name] = value === 'default' ? 'default' : capOf(name, value);
  }
  return patch;
}

/** quota:set USER QUOTA=N...: a user's own caps (admins only; the command checks). */
export async function setQuotas(store: Store, user: string, patch: QuotaPatch): Promise<void> {
  await store.quotas.set(validate.userName(user), patch);
}

/**
 * quota:report [USER]: what a user has against their caps. Users see their
 * own; admins anyone's; root on the server names the user.
 */
export async function quotaReport(
  store: Store,
  actor: Actor,
  user: string | undefined,
): Promise<QuotaReport> {
  if (user === undefined && actor.kind === 'root') {
    throw usage('name the user: berth quota:report USER');
  }
  const name = validate.userName(user ?? (actor.kind === 'user' ? actor.user : ''));
  if (actor.kind === 'user' && name !== actor.user && !isAdmin(actor)) {
    throw new BerthError('BERTH_E_FORBIDDEN', {
      action: "another user's quotas",
      who: 'admins',
    });
  }
  return store.quotas.report(name);
}
