// Berth's own registry for the swarm (BERTH_SWARM_REGISTRY=HOST:PORT):
// Debian's docker-registry in a container on Berth's Engine, the one that
// builds the images, so a push never leaves the machine that built it, and
// the nodes pull from it over the network. Why there and not as a Swarm
// service: docs/design.md, "Images on the swarm's nodes".
//
// - Host networking, listening on HOST:PORT only (an address of Berth's
//   machine that the nodes reach), not on every interface.
// - TLS from Berth's registry CA (ca.ts); Docker on the nodes and on Berth's
//   machine trusts it through /etc/docker/certs.d/HOST:PORT/ca.crt, which
//   the operator installs (README, "Images on every node").
// - One user, `berth`, with a generated password kept in
//   <data>/registry/serve/password (mode 0600): the registry's entry point
//   makes its bcrypt htpasswd from it. Swarm services are created with it
//   (X-Registry-Auth), so the nodes pull with it.
// - Deletion enabled (retention removes old tags' manifests); the blobs
//   stay until garbage collection (./retention.ts says when).
// - Its data in a volume of the same name as the container, kept when the
//   container is made again (a new image, a new certificate).
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import type Docker from 'dockerode';
import { dockerStatus, LABELS, MANAGED_LABELS } from '../../core/docker.ts';
import { writeFileDurably } from '../../core/durable-file.ts';
import { BerthError } from '../../core/errors.ts';
import { newSecret } from '../../core/secret.ts';
import * as validate from '../../core/validate.ts';
import { registryTls } from './ca.ts';
import { CONFIG_DIR, ensureRegistryImage } from './image.ts';
import { type RegistryClient, registryAnswers } from './registry-api.ts';

export const REGISTRY_USER = 'berth';

export interface OwnRegistryOptions {
  /** Berth's Engine (where apps are built). */
  docker: Docker;
  /** HOST:PORT (BERTH_SWARM_REGISTRY). */
  address: string;
  /** <data>/registry. */
  dir: string;
  /** More labels on the container and volume (tests: berth.test-run). */
  labels?: Readonly<Record<string, string>>;
  /** Progress of a first start (the image build). */
  onLine?: (line: string) => void;
}

/** The container (and volume) of the registry at `address`: one registry per address. */
export const registryContainerName = (address: string) =>
  `berth-registry-${validate.registryServer(address).replace(/[^A-Za-z0-9.]/g, '-')}`;

/** The generated password, made on first use (0600). */
async function password(dir: string): Promise<string> {
  const file = path.join(dir, 'serve', 'password');
  const have = await readFile(file, 'utf8').catch(() => undefined);
  if (have) return have.trim();
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const made = newSecret();
  await writeFileDurably(file, made, 0o600);
  return made;
}

function configYaml(address: string): string {
  const [host, port] = address.split(':') as [string, string];
  // An IP is listened on alone; a name, on every address (the operator's firewall decides).
  const addr = isIP(host) ? `${host}:${port}` : `:${port}`;
  return `version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: /var/lib/registry
  delete:
    enabled: true
http:
  addr: ${addr}
  tls:
    certificate: ${CONFIG_DIR}/tls.crt
    key: ${CONFIG_DIR}/tls.key
auth:
  htpasswd:
    realm: berth-registry
    path: /run/htpasswd
`;
}

/** How the registry at `address` is reached: server, credentials and CA. */
export async function ownRegistryClient(address: string, dir: string): Promise<RegistryClient> {
  const server = validate.registryServer(address);
  return {
    server,
    auth: { username: REGISTRY_USER, password: await password(dir), serveraddress: server },
    ca: await readFile(path.join(dir, 'ca.crt'), 'utf8'),
  };
}

const starting = new Map<string, Promise<RegistryClient>>();

/**
 * Berth's registry at `address`, started (its image built, its certificate
 * made) when it is not running as it should; how to reach it.
 * BERTH_E_REGISTRY when it does not answer.
 */
export function ensureOwnRegistry(o: OwnRegistryOptions): Promise<RegistryClient> {
  const key = `${o.address}\0${o.dir}`;
  let p = starting.get(key);
  if (p === undefined) {
    p = start(o).finally(() => starting.delete(key));
    starting.set(key, p);
  }
  return p;
}

async function start(o: OwnRegistryOptions): Promise<RegistryClient> {
  const address = validate.registryServer(o.address);
  const host = address.split(':')[0] as string;
  const tls = await registryTls(o.dir, host);
  const client = await ownRegistryClient(address, o.dir);
  const config = configYaml(address);
  await writeFileDurably(path.join(o.dir, 'serve', 'config.yml'), config, 0o644);
  const name = registryContainerName(address);
  const image = await ensureRegistryImage(o.docker, {
    workDir: path.join(o.dir, 'work'),
    onLine: o.onLine ?? (() => {}),
  });
  await rm(path.join(o.dir, 'work'), { recursive: true, force: true });
  const imageId = (await o.docker.getImage(image).inspect()).Id;
  // What the container is made of: another image, config or certificate makes it again.
  const revision = createHash('sha256')
    .update(`${imageId}\0${config}\0${await readFile(tls.cert, 'utf8')}`)
    .digest('hex')
    .slice(0, 16);
  const existing = await o.docker
    .getContainer(name)
    .inspect()
    .catch((e: unknown) => {
      if (dockerStatus(e) === 404) return undefined;
      throw e;
    });
  const current =
    existing?.State.Running === true &&
    existing.Config.Labels?.[LABELS.registryRevision] === revision;
  if (!current) {
    if (existing) await o.docker.getContainer(name).remove({ force: true });
    const labels = { ...MANAGED_LABELS, ...(o.labels ?? {}), [LABELS.registry]: address };
    // Made first with the labels, so what selects Berth's (or a test's) objects finds it.
    await o.docker.createVolume({ Name: name, Labels: labels });
    const container = await o.docker.createContainer({
      name,
      Image: image,
      Labels: { ...labels, [LABELS.registryRevision]: revision },
      HostConfig: {
        NetworkMode: 'host',
        RestartPolicy: { Name: 'unless-stopped' },
        Binds: [`${path.join(o.dir, 'serve')}:${CONFIG_DIR}:ro`],
        Mounts: [{ Type: 'volume', Source: name, Target: '/var/lib/registry' }],
        LogConfig: { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '2' } },
      },
    });
    await container.start();
  }
  const end = Date.now() + 30_000;
  let last: unknown;
  for (;;) {
    try {
      if (await registryAnswers(client)) return client;
      last = new Error('it refused the credentials');
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) {
      throw new BerthError('BERTH_E_REGISTRY', {
        reason: `no answer on https://${address}/v2/ within 30 s (${(last as Error).message})`,
      });
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}
