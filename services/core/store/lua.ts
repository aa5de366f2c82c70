// Lua scripts are how the store makes a check and the writes that depend on it
// one step: Redis runs a script to completion before serving anyone else, so
// "refuse if taken, else write the index and the set" cannot interleave with
// another client. Each script checks everything first and writes last, because
// Redis does not roll back the writes of a script that fails half-way.
//
// Result convention: a script returns {'ok', ...values} or
// {'BERTH_E_SOMETHING', param, value, param, value, ...}; `run` turns the
// latter into that BerthError.
import { createHash } from 'node:crypto';
import { BerthError, ERRORS, type ErrorCode } from '../errors.ts';
import type { StoreContext } from './context.ts';
import { LUA_LAYOUT } from './keys.ts';

/** Events the outbox keeps at most (trimmed oldest first, ~); a delivery worker reads them within moments. */
export const EVENTS_MAX = 10_000;

/**
 * emit_event(app, event, data_json): an event for the app's webhooks
 * (./notifications.ts), appended to the outbox stream in the same script as
 * the change it reports, so an acknowledged change never loses its event to
 * a crash; nothing when the app has no webhooks.
 */
export const LUA_EVENTS = `
local function emit_event(app, event, data)
  if redis.call('EXISTS', K.hooks(app)) == 0 then return end
  redis.call('XADD', K.events, 'MAXLEN', '~', ${EVENTS_MAX}, '*', 'event', event, 'app', app, 'data', data)
end
`;

// Helpers every script may use, after the key layout.
const LUA_HELPERS = `${LUA_EVENTS}
-- HSET key f1 v1 f2 v2 ... from a Lua list, in chunks to stay under unpack's limit.
local function hset_list(key, list)
  for i = 1, #list, 200 do
    redis.call('HSET', key, unpack(list, i, math.min(i + 199, #list)))
  end
end
-- A credential's record (SSH key, session...) with the record of the user it
-- names in its 'user' field: {'ok'} when there is none, else {'ok', record, user}.
local function record_with_user(key)
  local record = redis.call('HGETALL', key)
  if #record == 0 then return {'ok'} end
  local user
  for i = 1, #record, 2 do if record[i] == 'user' then user = record[i + 1] end end
  return {'ok', record, user and redis.call('HGETALL', K.user(user)) or {}}
end
-- ARGV[from..] as a Lua list.
local function argv_from(from)
  local list = {}
  for i = from, #ARGV do list[#list + 1] = ARGV[i] end
  return list
end
`;

export type LuaArg = string | number;

export class Script {
  readonly source: string;
  readonly sha: string;

  /** `body` sees K (the key layout) and its arguments from ARGV[2] on. */
  constructor(
    readonly name: string,
    body: string,
  ) {
    this.source = `-- berth:${name}\n${LUA_LAYOUT}${LUA_HELPERS}${body}`;
    this.sha = createHash('sha1').update(this.source).digest('hex');
  }

  /** Runs the script (by SHA, loading it on first use) and returns its raw reply. */
  async raw(ctx: StoreContext, args: readonly LuaArg[]): Promise<unknown> {
    const { redis } = ctx;
    const prefix = ctx.keys.prefix;
    try {
      return await redis.evalsha(this.sha, 0, prefix, ...args);
    } catch (e) {
      // After a restart or SCRIPT FLUSH, Redis no longer knows the script.
      if (!(e instanceof Error) || !e.message.startsWith('NOSCRIPT')) throw e;
      return redis.eval(this.source, 0, prefix, ...args);
    }
  }

  /** Runs the script and returns the values after 'ok', or throws the BerthError it reported. */
  async run(ctx: StoreContext, args: readonly LuaArg[]): Promise<unknown[]> {
    return unwrap(this.name, await this.raw(ctx, args));
  }
}

function unwrap(name: string, reply: unknown): unknown[] {
  if (!Array.isArray(reply) || typeof reply[0] !== 'string') {
    throw new Error(`Lua script ${name} returned an unexpected reply`);
  }
  const [status, ...rest] = reply as [string, ...unknown[]];
  if (status === 'ok') return rest;
  if (!(status in ERRORS)) throw new Error(`Lua script ${name} failed: ${status}`);
  const params: Record<string, string> = {};
  for (let i = 0; i + 1 < rest.length; i += 2) params[String(rest[i])] = String(rest[i + 1]);
  throw new BerthError(status as ErrorCode, params);
}
