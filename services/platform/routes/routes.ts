// The route table: the contract between the deployer, which writes it when a
// rollout switches traffic, and the router, which serves from it.
//
//   P app:<app>:routes   string, JSON { release, backends: ["host:port", ...], updatedAt }
//                        (deleted and renamed with the app by the store)
//   PUBLISH P routes <app>   after every change, so every router process
//                        reloads that app's entry at once instead of polling
//                        (the store publishes too when an app or its domains change)
//
// One SET switches an app from one release's instances to the next: there
// is no moment with both or neither.
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { BerthError } from '../../core/errors.ts';
import { keyLayout } from '../../core/store/keys.ts';
import { named } from '../../core/store/records.ts';
import * as validate from '../../core/validate.ts';

const RouteEntrySchema = z.object({
  release: z.number().int().nonnegative(),
  /** Where to send requests: each web instance's host:port, as its scheduler reported it. */
  backends: z.array(named(validate.backendAddress, 'backend address')),
  updatedAt: z.iso.datetime(),
});

export type RouteEntry = z.infer<typeof RouteEntrySchema>;

/** Parses a stored entry; BERTH_E_STORE_CORRUPT for anything else, so a bad key never reaches a socket. */
export function parseRouteEntry(key: string, text: string): RouteEntry {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new BerthError('BERTH_E_STORE_CORRUPT', { key, reason: 'not JSON' });
  }
  const parsed = RouteEntrySchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new BerthError('BERTH_E_STORE_CORRUPT', {
      key,
      reason: `${issue?.path.join('.') || 'entry'}: ${issue?.message}`,
    });
  }
  return parsed.data;
}

export async function setRoutes(
  redis: Redis,
  redisPrefix: string,
  app: string,
  release: number,
  backends: readonly string[],
): Promise<void> {
  const entry: RouteEntry = {
    release,
    backends: [...backends],
    updatedAt: new Date().toISOString(),
  };
  const keys = keyLayout(redisPrefix);
  await redis
    .multi()
    .set(keys.routes(validate.appName(app)), JSON.stringify(entry))
    .publish(keys.routesChannel, app)
    .exec();
}

export async function getRoutes(
  redis: Redis,
  redisPrefix: string,
  app: string,
): Promise<RouteEntry | undefined> {
  const key = keyLayout(redisPrefix).routes(validate.appName(app));
  const text = await redis.get(key);
  return text === null ? undefined : parseRouteEntry(key, text);
}
