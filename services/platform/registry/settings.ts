// registry:set and registry:login's settings, as Dokku's registry plugin
// keeps them: per app and global properties (server, image-repo,
// push-on-release, push-extra-tags) and credentials per server, for an app
// or for all. Kept in one file, <data>/registry/settings.json, mode 0600
// (it holds passwords Berth must send as they are, so not hashed as
// secret.ts' tokens are), written whole and durably; the CLI never prints a
// password back.
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileDurably } from '../../core/durable-file.ts';

export const APP_KEYS = ['server', 'image-repo', 'push-on-release', 'push-extra-tags'] as const;
export const GLOBAL_KEYS = ['server', 'push-on-release', 'push-extra-tags'] as const;
export type RegistryKey = (typeof APP_KEYS)[number];

export type Properties = Partial<Record<RegistryKey, string>>;
export interface Login {
  username: string;
  password: string;
}

export interface RegistrySettings {
  global: Properties;
  apps: Record<string, Properties>;
  /** Credentials by server: all apps' (global) and one app's. */
  logins: { global: Record<string, Login>; apps: Record<string, Record<string, Login>> };
}

const empty = (): RegistrySettings => ({ global: {}, apps: {}, logins: { global: {}, apps: {} } });

export const settingsFile = (dir: string) => path.join(dir, 'settings.json');

export async function readSettings(dir: string): Promise<RegistrySettings> {
  const text = await readFile(settingsFile(dir), 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw e;
  });
  if (text === undefined) return empty();
  const s = JSON.parse(text) as Partial<RegistrySettings>;
  return {
    global: s.global ?? {},
    apps: s.apps ?? {},
    logins: { global: s.logins?.global ?? {}, apps: s.logins?.apps ?? {} },
  };
}

/** One change at a time in this process: read, change, write whole. */
let queue: Promise<unknown> = Promise.resolve();

export function changeSettings(dir: string, change: (s: RegistrySettings) => void): Promise<void> {
  const next = queue.then(async () => {
    const s = await readSettings(dir);
    change(s);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFileDurably(settingsFile(dir), `${JSON.stringify(s, null, 2)}\n`, 0o600);
  });
  queue = next.catch(() => {});
  return next;
}

/** An app's setting of `key`, else the global one; '' when neither is set. */
export const computed = (s: RegistrySettings, app: string, key: RegistryKey): string =>
  s.apps[app]?.[key] ?? (key === 'image-repo' ? undefined : s.global[key]) ?? '';

/** The credentials for `server`: the app's own, else the global ones. */
export const loginFor = (s: RegistrySettings, app: string, server: string): Login | undefined =>
  s.logins.apps[app]?.[server] ?? s.logins.global[server];
