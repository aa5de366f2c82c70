// Where an app's instances listen, and so the PORT they get and the port
// they are checked and routed on; first rule that applies (Dokku's, with the
// app's own PORT honoured as Heroku does):
//   1. the app's mappings (ports:set|add, ../apps/ports.ts): the first one's container port;
//   2. the app's own PORT config var (config:set APP PORT=8000);
//   3. the first TCP port its image EXPOSEs (a Dockerfile's `EXPOSE 8000`);
//   4. 5000.
import type { ConfigVars, DeploySettings } from '../../core/store/index.ts';
import * as validate from '../../core/validate.ts';

/** PORT when nothing else names one, as on Heroku and Dokku. */
export const DEFAULT_PORT = 5000;

/** Where an app's container port comes from (ports:report, the push's line). */
export type PortSource = 'ports:set' | 'PORT' | 'EXPOSE' | 'default';

/** The port a web instance listens on and is checked and routed on, with where it comes from. */
export function containerPort(
  settings: Pick<DeploySettings, 'portsMap' | 'portsDetected'> | undefined,
  config: Readonly<ConfigVars>,
  fallback = DEFAULT_PORT,
): { port: number; from: PortSource } {
  const mapped = settings?.portsMap[0];
  if (mapped) return { port: mapped.containerPort, from: 'ports:set' };
  if (config.PORT !== undefined) {
    // config:set checks PORT (validate.port); one set before it did is ignored.
    try {
      return { port: validate.port(config.PORT), from: 'PORT' };
    } catch {}
  }
  const exposed = settings?.portsDetected[0];
  if (exposed !== undefined) return { port: exposed, from: 'EXPOSE' };
  return { port: fallback, from: 'default' };
}

/** How a source reads in the push and ports:list. */
export const describeSource = (from: PortSource): string =>
  ({
    'ports:set': "the app's port mapping",
    PORT: "the app's PORT config var",
    EXPOSE: "the image's EXPOSE",
    default: 'the default',
  })[from];
