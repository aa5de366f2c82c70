// The route table: the contract between the deployer, which writes it when a
// rollout switches traffic, and the router (issue 6), which serves from it.
//
//   P app:<app>:routes   string, JSON { release, backends: ["ip:port", ...], updatedAt }
//                        (deleted and renamed with the app by the store)
//   PUBLISH P routes <app>   after every change, so every router process
//                        reloads that app's entry at once instead of polling
//
// One SET switches an app from one release's instances to the next: there
// is no moment with both or neither.
import type { Redis } from 'ioredis';
import { keyLayout } from '../core/store/keys.ts';
import * as validate from '../core/validate.ts';

export interface RouteEntry {
  release: number;
  /** host:port of each web instance to send requests to. */
  backends: string[];
  updatedAt: string;
}

export const routesChannel = (redisPrefix: string): string => `${redisPrefix}routes`;

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
  await redis
    .multi()
    .set(keyLayout(redisPrefix).routes(validate.appName(app)), JSON.stringify(entry))
    .publish(routesChannel(redisPrefix), app)
    .exec();
}

export async function getRoutes(
  redis: Redis,
  redisPrefix: string,
  app: string,
): Promise<RouteEntry | undefined> {
  const text = await redis.get(keyLayout(redisPrefix).routes(validate.appName(app)));
  return text === null ? undefined : (JSON.parse(text) as RouteEntry);
}
