// The router reads an app's route entry and settings without zod
// (proxy/app-records.ts); the store and the commands read them with the
// schemas in services/core/store/records.ts and routes.ts. Both must take
// the same records to the same values and refuse the same ones.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DEFAULT_HSTS_MAX_AGE as ROUTER_DEFAULT,
  readHttpsSettings,
  readProxySettings,
  readRouteEntry,
} from '../../proxy/app-records.ts';
import { BerthError } from '../../services/core/errors.ts';
import {
  DEFAULT_HSTS_MAX_AGE,
  decode,
  HttpsSettingsSchema,
  ProxySettingsSchema,
} from '../../services/core/store/records.ts';
import { parseRouteEntry } from '../../services/platform/routes/routes.ts';

/** What a reader makes of an input: its value, or 'corrupt'. */
function outcome<T>(read: () => T): T | 'corrupt' {
  try {
    return read();
  } catch (e) {
    assert.ok(e instanceof BerthError, String(e));
    assert.equal(e.code, 'BERTH_E_STORE_CORRUPT');
    return 'corrupt';
  }
}

const KEY = 'berth:app:web:routes';
const at = '2026-12-07T18:00:00.123Z';

test('route entries: the router takes and refuses what routes.ts does', () => {
  const entries: unknown[] = [
    { release: 3, backends: ['10.0.0.2:5000', '[fd00::2]:5000', 'web-1:8080'], updatedAt: at },
    { release: 0, backends: [], updatedAt: '2026-12-07T18:00:00Z', extra: 'dropped' },
    { release: -1, backends: [], updatedAt: at },
    { release: 1.5, backends: [], updatedAt: at },
    { release: '1', backends: [], updatedAt: at },
    { release: 1, backends: ['10.0.0.2'], updatedAt: at },
    { release: 1, backends: ['10.0.0.2:0'], updatedAt: at },
    { release: 1, backends: ['10.0.0.2:5000; rm -rf /'], updatedAt: at },
    { release: 1, backends: [5000], updatedAt: at },
    { release: 1, backends: '10.0.0.2:5000', updatedAt: at },
    { release: 1, backends: [], updatedAt: 'yesterday' },
    { release: 1, backends: [], updatedAt: '2026-12-07T18:00:00+01:00' },
    { release: 1, backends: [] },
    [],
    null,
    'text',
  ];
  const texts = [...entries.map((e) => JSON.stringify(e)), '{not json', ''];
  for (const text of texts) {
    assert.deepEqual(
      outcome(() => readRouteEntry(KEY, text)),
      outcome(() => parseRouteEntry(KEY, text)),
      text,
    );
  }
});

test('HTTPS and proxy settings: the router takes and refuses what records.ts does', () => {
  assert.equal(ROUTER_DEFAULT, DEFAULT_HSTS_MAX_AGE);
  const records: Record<string, string>[] = [
    {},
    { name: 'web', httpsRedirect: 'off', hsts: 'on', hstsMaxAge: '600', maxBodySize: '0' },
    { httpsRedirect: 'on', hsts: 'off', hstsMaxAge: '0', maxBodySize: '1048576' },
    { hstsMaxAge: '9999999999' },
    { hstsMaxAge: '99999999999' },
    { hstsMaxAge: '012' },
    { hstsMaxAge: '-1' },
    { hstsMaxAge: '' },
    { httpsRedirect: 'yes' },
    { hsts: 'ON' },
    { maxBodySize: '9999999999999' },
    { maxBodySize: '99999999999999' },
    { maxBodySize: '1e6' },
    { maxBodySize: ' 1' },
  ];
  for (const r of records) {
    const label = JSON.stringify(r);
    assert.deepEqual(
      outcome(() => readHttpsSettings(KEY, r)),
      outcome(() => decode(HttpsSettingsSchema, KEY, r)),
      label,
    );
    assert.deepEqual(
      outcome(() => readProxySettings(KEY, r)),
      outcome(() => decode(ProxySettingsSchema, KEY, r)),
      label,
    );
  }
});
