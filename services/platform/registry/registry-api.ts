// The few calls of the registry HTTP API V2 (the distribution spec) Berth
// makes itself, for retention: an app's tags, a tag's manifest digest, and
// the deletion of a manifest by digest. Pushes and pulls are the Engines'.
// Basic auth, over HTTPS trusting the given CA (Berth's own registry) or the
// system's (an external one).
import { Agent, request } from 'node:https';
import * as validate from '../../core/validate.ts';

export interface RegistryAuth {
  username: string;
  password: string;
  /** The server the credentials are for (HOST[:PORT]), as Docker's X-Registry-Auth names it. */
  serveraddress: string;
}

export interface RegistryClient {
  server: string;
  auth?: RegistryAuth;
  /** PEM of the CA that signed the registry's certificate; undefined: the system's. */
  ca?: string;
}

const MANIFESTS = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
].join(', ');

const agents = new Map<string, Agent>();

function call(
  c: RegistryClient,
  method: string,
  urlPath: string,
  headers: Record<string, string> = {},
): Promise<{
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}> {
  const server = validate.registryServer(c.server);
  const [host, port] = server.split(':') as [string, string | undefined];
  const key = `${server}\0${c.ca ?? ''}`;
  let agent = agents.get(key);
  if (agent === undefined) {
    agent = new Agent({ keepAlive: false, ...(c.ca ? { ca: c.ca } : {}) });
    agents.set(key, agent);
  }
  const auth = c.auth
    ? {
        authorization: `Basic ${Buffer.from(`${c.auth.username}:${c.auth.password}`).toString('base64')}`,
      }
    : {};
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host,
        port: port ? Number(port) : 443,
        method,
        path: urlPath,
        agent,
        headers: { ...auth, ...headers },
        timeout: 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8').slice(0, 1_000_000),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${server} within 30 s`)));
    req.on('error', reject);
    req.end();
  });
}

/** Whether the registry answers /v2/ with the credentials (200). */
export async function registryAnswers(c: RegistryClient): Promise<boolean> {
  return (await call(c, 'GET', '/v2/')).status === 200;
}

/** The repository's tags (none when it has no repository yet). */
export async function listTags(c: RegistryClient, repo: string): Promise<string[]> {
  const r = await call(c, 'GET', `/v2/${validate.imageRepo(repo)}/tags/list?n=10000`);
  if (r.status === 404) return [];
  if (r.status !== 200)
    throw new Error(`${c.server} answered ${r.status} to the tag list of ${repo}`);
  return ((JSON.parse(r.body) as { tags?: string[] | null }).tags ?? []).filter(Boolean);
}

/** Deletes the manifest `repo:tag` points to (by its digest, as the API asks); false when it is gone already. */
export async function deleteTag(c: RegistryClient, repo: string, tag: string): Promise<boolean> {
  const path = `/v2/${validate.imageRepo(repo)}/manifests/`;
  const head = await call(c, 'HEAD', path + validate.imageTag(tag), { accept: MANIFESTS });
  if (head.status === 404) return false;
  const digest = head.headers['docker-content-digest'];
  if (head.status !== 200 || typeof digest !== 'string' || !/^sha256:[a-f0-9]{64}$/.test(digest)) {
    throw new Error(`${c.server} answered ${head.status} for ${repo}:${tag}`);
  }
  const del = await call(c, 'DELETE', path + digest);
  if (del.status !== 202 && del.status !== 404) {
    throw new Error(`${c.server} answered ${del.status} to deleting ${repo}:${tag}`);
  }
  return del.status === 202;
}

/** Whether `repo:tag` is in the registry. */
export async function hasTag(c: RegistryClient, repo: string, tag: string): Promise<boolean> {
  const r = await call(
    c,
    'HEAD',
    `/v2/${validate.imageRepo(repo)}/manifests/${validate.imageTag(tag)}`,
    {
      accept: MANIFESTS,
    },
  );
  if (r.status === 200) return true;
  if (r.status === 404) return false;
  throw new Error(`${c.server} answered ${r.status} for ${repo}:${tag}`);
}
