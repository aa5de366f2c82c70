// proxy:* — how the router treats an app's traffic. Today one setting, the
// request body limit (nginx's client_max_body_size, Dokku's
// `nginx:set APP client-max-body-size`), spelled as nginx spells sizes.
import type { Config } from '../../core/config.ts';
import { BerthError } from '../../core/errors.ts';
import type { App, Store } from '../../core/store/index.ts';
import * as validate from '../../core/validate.ts';

export const PROXY_SETTINGS = ['max-body-size'] as const;

export interface ProxyReport {
  /** The limit the router applies, in bytes; 0: none. */
  maxBodySize: number;
  /** Where it comes from: the app's own setting, or BERTH_MAX_BODY_SIZE. */
  maxBodySizeSource: 'app' | 'default';
}

/** proxy:set APP KEY [VALUE]; no value puts the setting back to its default. */
export async function setProxySetting(
  store: Store,
  app: App,
  key: string,
  value: string | undefined,
): Promise<void> {
  if (key !== 'max-body-size') {
    throw new BerthError('BERTH_E_UNKNOWN_SETTING', {
      command: 'proxy:set',
      key,
      settings: PROXY_SETTINGS.join(', '),
    });
  }
  await store.apps.setMaxBodySize(app.name, value === undefined ? null : validate.bodySize(value));
}

export async function proxyReport(store: Store, app: App, config: Config): Promise<ProxyReport> {
  const { maxBodySize } = await store.apps.proxySettings(app.name);
  return maxBodySize === null
    ? { maxBodySize: config.maxBodySize, maxBodySizeSource: 'default' }
    : { maxBodySize, maxBodySizeSource: 'app' };
}

/** "10m", or "no limit". */
export const describeBodySize = (bytes: number): string =>
  bytes === 0 ? 'no limit' : validate.formatSize(bytes);
