// What a router process reads of an app from Redis, parsed without zod:
// the route entry (services/platform/routes/routes.ts), the HTTPS and proxy
// settings in the app's hash (services/core/store/records.ts). zod and the
// store's schemas cost about 7 MB in every process that loads them, and a
// router process, one per CPU, needs only these three (issue 17). They take
// and refuse what those schemas do (test/unit/app-records.test.ts runs both
// on the same records); a record either refuses is BERTH_E_STORE_CORRUPT,
// so a hand-edited key never reaches a socket.
import { BerthError } from '../services/core/errors.ts';
import type { HttpsSettings, ProxySettings } from '../services/core/store/records.ts';
import * as validate from '../services/core/validate.ts';
import type { RouteEntry } from '../services/platform/routes/routes.ts';

/** records.ts' DEFAULT_HSTS_MAX_AGE (a value from there would load zod; the test compares). */
export const DEFAULT_HSTS_MAX_AGE = 31_536_000;

const corrupt = (key: string, reason: string): never => {
  throw new BerthError('BERTH_E_STORE_CORRUPT', { key, reason });
};

/** An ISO 8601 UTC time as records.ts' timestamps are written (toISOString). */
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?Z$/;

/** An app's route entry (`P app:<app>:routes`), as routes.ts' parseRouteEntry reads it. */
export function readRouteEntry(key: string, text: string): RouteEntry {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return corrupt(key, 'not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return corrupt(key, 'entry: not an object');
  }
  const { release, backends, updatedAt } = value as Record<string, unknown>;
  if (typeof release !== 'number' || !Number.isSafeInteger(release) || release < 0) {
    return corrupt(key, 'release: not a release number');
  }
  if (!Array.isArray(backends)) return corrupt(key, 'backends: not a list');
  backends.forEach((b, i) => {
    try {
      if (typeof b !== 'string' || validate.backendAddress(b) !== b) throw new Error();
    } catch {
      corrupt(key, `backends.${i}: not a valid backend address`);
    }
  });
  if (
    typeof updatedAt !== 'string' ||
    !ISO_UTC.test(updatedAt) ||
    Number.isNaN(Date.parse(updatedAt))
  ) {
    return corrupt(key, 'updatedAt: not an ISO 8601 time');
  }
  return { release, backends: backends as string[], updatedAt };
}

/** An on/off field, its default when absent. */
function onOff(key: string, record: Record<string, string>, field: string, absent: boolean) {
  const v = record[field];
  if (v === undefined) return absent;
  if (v !== 'on' && v !== 'off') return corrupt(key, `${field}: not on or off`);
  return v === 'on';
}

/** A decimal field of at most `digits` digits, no leading zero; undefined when absent. */
function decimal(key: string, record: Record<string, string>, field: string, digits: number) {
  const v = record[field];
  if (v === undefined) return undefined;
  if (!new RegExp(`^(?:0|[1-9][0-9]{0,${digits - 1}})$`).test(v)) {
    return corrupt(key, `${field}: not a number`);
  }
  return Number(v);
}

/** The app's HTTPS settings (certs:set), as records.ts' HttpsSettingsSchema reads them. */
export function readHttpsSettings(key: string, record: Record<string, string>): HttpsSettings {
  return {
    httpsRedirect: onOff(key, record, 'httpsRedirect', true),
    hsts: onOff(key, record, 'hsts', false),
    hstsMaxAge: decimal(key, record, 'hstsMaxAge', 10) ?? DEFAULT_HSTS_MAX_AGE,
  };
}

/** The app's proxy settings (proxy:set), as records.ts' ProxySettingsSchema reads them. */
export function readProxySettings(key: string, record: Record<string, string>): ProxySettings {
  return { maxBodySize: decimal(key, record, 'maxBodySize', 13) ?? null };
}
