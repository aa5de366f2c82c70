// The platform-wide defaults admins set with Dokku's `--global` (`ps:set
// --global restart-policy always`, `config:set --global K=V`): two hashes,
// the settings and the global config vars. An app's own setting or var wins
// over these; these win over Berth's built-in defaults and BERTH_* variables
// of the same meaning (docs/dokku-differences.md, "Global settings").

import { z } from 'zod';
import * as validate from '../validate.ts';
import { configValue } from './config-vars.ts';
import type { StoreContext } from './context.ts';
import {
  decode,
  type GlobalSettingField,
  type GlobalSettings,
  GlobalSettingsSchema,
  named,
} from './records.ts';

/** A named host directory an admin registered (storage:create). */
export const StorageEntrySchema = z.object({
  name: named(validate.storageName, 'storage name'),
  /** Absolute, checked by core/docker-options.ts hostPath when registered. */
  path: z.string().startsWith('/'),
  createdAt: z.string(),
  by: z.string(),
});
export type StorageEntry = z.output<typeof StorageEntrySchema>;

export class PlatformSettings {
  constructor(private readonly ctx: StoreContext) {}

  async get(): Promise<GlobalSettings> {
    const key = this.ctx.keys.globalSettings;
    return decode(GlobalSettingsSchema, key, await this.ctx.redis.hgetall(key));
  }

  /** Sets one global setting; null: back to Berth's own default. */
  async set<F extends GlobalSettingField>(field: F, value: GlobalSettings[F]): Promise<void> {
    const key = this.ctx.keys.globalSettings;
    if (value === null) {
      await this.ctx.redis.hdel(key, field);
      return;
    }
    const stored =
      typeof value === 'string' || typeof value === 'number'
        ? String(value)
        : JSON.stringify(value);
    // Callers pass checked values; this keeps a slip from storing what get() cannot read.
    GlobalSettingsSchema.shape[field].parse(stored);
    await this.ctx.redis.hset(key, field, stored);
  }

  /** The global config vars (config:set --global). */
  async config(): Promise<Record<string, string>> {
    return { ...(await this.ctx.redis.hgetall(this.ctx.keys.globalConfig)) };
  }

  /** Sets global config vars; keys and values are checked as an app's are (ConfigVarsRepo). */
  async setConfig(vars: Readonly<Record<string, string>>): Promise<void> {
    const fields: string[] = [];
    for (const [k, v] of Object.entries(vars)) fields.push(validate.envKey(k), configValue(k, v));
    if (fields.length > 0) await this.ctx.redis.hset(this.ctx.keys.globalConfig, ...fields);
  }

  /** Removes global config vars; returns how many existed. */
  async unsetConfig(keys: readonly string[]): Promise<number> {
    const names = keys.map((k) => validate.envKey(k));
    return names.length === 0 ? 0 : this.ctx.redis.hdel(this.ctx.keys.globalConfig, ...names);
  }

  /** Registers a storage entry; false when the name is taken. */
  async addStorageEntry(entry: StorageEntry): Promise<boolean> {
    const checked = StorageEntrySchema.parse(entry);
    const added = await this.ctx.redis.hsetnx(
      this.ctx.keys.storageEntries,
      checked.name,
      JSON.stringify(checked),
    );
    return added === 1;
  }

  async storageEntries(): Promise<StorageEntry[]> {
    const key = this.ctx.keys.storageEntries;
    const hash = await this.ctx.redis.hgetall(key);
    return Object.values(hash)
      .map((text) => decode(StorageEntrySchema, key, JSON.parse(text)))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  async storageEntry(name: string): Promise<StorageEntry | undefined> {
    const key = this.ctx.keys.storageEntries;
    const text = await this.ctx.redis.hget(key, validate.storageName(name));
    return text === null ? undefined : decode(StorageEntrySchema, key, JSON.parse(text));
  }

  async removeStorageEntry(name: string): Promise<boolean> {
    return (
      (await this.ctx.redis.hdel(this.ctx.keys.storageEntries, validate.storageName(name))) === 1
    );
  }
}
