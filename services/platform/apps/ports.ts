// ports:* — which port of an app's instances the router forwards to, as
// Dokku's port mappings (`http:80:5000`), and what PORT the instances get.
//
// Where a web instance listens is ../release/listen-port.ts's rule (a
// mapping, the app's PORT, EXPOSE, 5000). Every process of the app gets that
// port as PORT; the router forwards the app's HTTP and HTTPS traffic there. Berth's router listens on its own two
// ports for every app, so a mapping's host port is one of those, and all of
// an app's mappings name the same container port (docs/dokku-differences.md).
import type { Config } from '../../core/config.ts';
import { BerthError } from '../../core/errors.ts';
import type { App, DeploySettings, Store } from '../../core/store/index.ts';
import type { PortMapping } from '../../core/validate.ts';
import * as validate from '../../core/validate.ts';
import { appCertReport } from '../certs/manual.ts';
import { containerPort, DEFAULT_PORT, type PortSource } from '../release/listen-port.ts';

export { containerPort, describeSource } from '../release/listen-port.ts';
export type { PortMapping, PortSource };

/** The host ports a mapping may name: the router's listeners (80/443 as Dokku writes them, or the configured ones). */
export function routerPorts(config: Pick<Config, 'httpPort' | 'httpsPort'>) {
  const uniq = (a: number[]) => [...new Set(a.filter((p) => p > 0))];
  return { http: uniq([80, config.httpPort]), https: uniq([443, config.httpsPort]) };
}

export const formatMapping = (m: PortMapping) => `${m.scheme}:${m.hostPort}:${m.containerPort}`;

/** Dokku's "port map detected": http:80 to what EXPOSE (else 5000) names, and https:443 with a certificate. */
export function detectedMappings(
  settings: Pick<DeploySettings, 'portsDetected'>,
  hasCert: boolean,
): PortMapping[] {
  const containerPort = settings.portsDetected[0] ?? DEFAULT_PORT;
  return [
    { scheme: 'http', hostPort: 80, containerPort },
    ...(hasCert ? [{ scheme: 'https' as const, hostPort: 443, containerPort }] : []),
  ];
}

/** Whether one of the app's hosts has a certificate issued (certs:add, letsencrypt). */
export async function hasCertificate(store: Store, app: string, base: string): Promise<boolean> {
  const r = await appCertReport(store, app, new Date(), base);
  return r.domains.some((d) => d.certificate !== null && d.certificate.notAfter !== null);
}

export type PortsAction = 'set' | 'add' | 'remove' | 'clear';

/**
 * Changes the app's mappings; refused whole, with nothing changed, when one
 * argument is not a mapping Berth serves, when they name two container
 * ports, or when an https one has no certificate to serve it with. Returns
 * the mappings before and after.
 */
export async function changePorts(
  store: Store,
  app: App,
  config: Pick<Config, 'httpPort' | 'httpsPort' | 'domain'>,
  action: PortsAction,
  args: readonly string[],
): Promise<{ before: PortMapping[]; after: PortMapping[] }> {
  const hostPorts = routerPorts(config);
  const settings = await store.apps.deploySettings(app.name);
  const before = settings.portsMap;
  let after: PortMapping[];
  if (action === 'clear') {
    after = [];
  } else if (action === 'remove') {
    // As Dokku's: a host port (or scheme:host-port) removes every mapping on it.
    const going = args.map((a) => removal(a, hostPorts));
    after = before.filter(
      (m) =>
        !going.some(
          (g) =>
            g.hostPort === m.hostPort &&
            (g.scheme === undefined || g.scheme === m.scheme) &&
            (g.containerPort === undefined || g.containerPort === m.containerPort),
        ),
    );
  } else {
    const given = args.map((a) => validate.portMapping(a, hostPorts));
    const merged = action === 'set' ? [] : [...before];
    for (const m of given) {
      // One mapping per listener: a new one on the same scheme and host port replaces it.
      const i = merged.findIndex((o) => o.scheme === m.scheme && o.hostPort === m.hostPort);
      if (i >= 0) merged.splice(i, 1, m);
      else merged.push(m);
    }
    after = merged;
    const ports = [...new Set(after.map((m) => m.containerPort))];
    if (ports.length > 1) {
      throw new BerthError('BERTH_E_USAGE', {
        reason: `the mappings of ${app.name} name container ports ${ports.join(' and ')}: Berth's router forwards all of an app's traffic to one port of its instances (see docs/dokku-differences.md)`,
      });
    }
    const https = given.find((m) => m.scheme === 'https');
    if (https && !(await hasCertificate(store, app.name, config.domain))) {
      throw new BerthError('BERTH_E_PORTS_NO_CERT', {
        app: app.name,
        mapping: formatMapping(https),
      });
    }
  }
  await store.apps.setDeploySetting(app.name, 'portsMap', after);
  return { before, after };
}

/** What ports:remove takes: a host port, scheme:host-port, or a whole mapping. */
function removal(
  value: string,
  hostPorts: { http: readonly number[]; https: readonly number[] },
): { scheme?: 'http' | 'https'; hostPort: number; containerPort?: number } {
  if (/^[0-9]+$/.test(value)) return { hostPort: validate.port(value) };
  const short = /^(https?):([0-9]{1,5})$/.exec(value);
  if (short) {
    return { scheme: short[1] as 'http' | 'https', hostPort: validate.port(short[2] ?? '') };
  }
  return validate.portMapping(value, hostPorts);
}

export interface PortsReport {
  /** ports:set|add; empty: the detected ones apply. */
  map: PortMapping[];
  detected: PortMapping[];
  /** The port web instances listen on, get as PORT, and are checked and routed on. */
  containerPort: number;
  containerPortFrom: PortSource;
}

export async function portsReport(
  store: Store,
  app: App,
  config: Pick<Config, 'domain'>,
): Promise<PortsReport> {
  const [settings, vars, cert] = await Promise.all([
    store.apps.deploySettings(app.name),
    store.config.get(app.name),
    hasCertificate(store, app.name, config.domain),
  ]);
  const { port, from } = containerPort(settings, vars);
  return {
    map: settings.portsMap,
    detected: detectedMappings(settings, cert),
    containerPort: port,
    containerPortFrom: from,
  };
}
