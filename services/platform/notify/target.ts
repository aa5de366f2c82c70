// Where a webhook may point. A tenant names the URL, and the request leaves
// from the server, inside the operator's network: without this check a
// webhook at http://127.0.0.1:6379/, http://169.254.169.254/ (a cloud's
// metadata service) or any internal name would make Berth reach what the
// tenant cannot. So the host is resolved once per attempt, every address is
// judged, and the connection goes to the address judged (the `lookup` below),
// never to a second resolution that could answer differently (DNS
// rebinding). No redirect is followed: a 3xx is the receiver's answer.
// BERTH_WEBHOOK_PRIVATE_TARGETS=allow lifts the check for operators whose
// receivers live on their own network.
import { lookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/** Why a target was refused; not retried (the answer will not change soon). */
export class TargetRefused extends Error {}

// Not public: this host, private networks, shared address space, link-local
// (cloud metadata), documentation, benchmarking, multicast and reserved
// ranges (RFC 6890's special-purpose registry).
const BLOCKED_V4: readonly [string, number][] = [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
];
// IPv6: only global unicast (2000::/3) is public, less its special blocks
// (Teredo and other protocol assignments, documentation, 6to4 which embeds
// any IPv4 address). Loopback, unique-local, link-local, multicast, and
// IPv4-mapped or NAT64 addresses all lie outside 2000::/3.
const BLOCKED_V6: readonly [string, number][] = [
  ['2001::', 23],
  ['2001:db8::', 32],
  ['2002::', 16],
];
const GLOBAL_V6 = new BlockList();
GLOBAL_V6.addSubnet('2000::', 3, 'ipv6');
const BLOCKED = new BlockList();
for (const [a, bits] of BLOCKED_V4) BLOCKED.addSubnet(a, bits, 'ipv4');
for (const [a, bits] of BLOCKED_V6) BLOCKED.addSubnet(a, bits, 'ipv6');

/** Whether an address (IPv4 or IPv6 literal) is on the public internet. */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return !BLOCKED.check(address, 'ipv4');
  if (family === 6) return GLOBAL_V6.check(address, 'ipv6') && !BLOCKED.check(address, 'ipv6');
  return false;
}

/** The address to connect to for `host`: the first public one, or any with `allowPrivate`. */
export async function resolveTarget(
  host: string,
  allowPrivate: boolean,
): Promise<{ address: string; family: 4 | 6 }> {
  const bare = host.startsWith('[') ? host.slice(1, -1) : host;
  const found = isIP(bare)
    ? [{ address: bare, family: isIP(bare) as 4 | 6 }]
    : ((await lookup(bare, { all: true, verbatim: true }).catch((e: unknown) => {
        throw new Error(`cannot resolve ${bare}: ${(e as NodeJS.ErrnoException).code ?? e}`);
      })) as { address: string; family: 4 | 6 }[]);
  const usable = allowPrivate ? found : found.filter((a) => isPublicAddress(a.address));
  const chosen = usable[0];
  if (!chosen) {
    throw new TargetRefused(
      `${bare} is not a public address (${found.map((a) => a.address).join(', ') || 'none'}); webhooks reach only the internet unless the operator sets BERTH_WEBHOOK_PRIVATE_TARGETS=allow`,
    );
  }
  return chosen;
}

export interface PostResult {
  code: number;
  /** The first bytes of the answer (at most `maxResponseBytes`). */
  body: string;
}

/**
 * POSTs `body` to `url` through the address resolveTarget judged: at most
 * `timeoutMs` in all, at most `maxResponseBytes` of the answer read.
 */
export async function postTo(
  url: string,
  body: Buffer,
  headers: Record<string, string>,
  o: { allowPrivate: boolean; timeoutMs: number; maxResponseBytes: number },
): Promise<PostResult> {
  const target = new URL(url);
  const { address, family } = await resolveTarget(target.hostname, o.allowPrivate);
  const pinned: LookupFunction = (_host, options, callback) => {
    if (options.all) callback(null, [{ address, family }]);
    else callback(null, address, family);
  };
  const client = target.protocol === 'https:' ? https : http;
  return new Promise<PostResult>((resolve, reject) => {
    const request = client.request(
      target,
      {
        method: 'POST',
        headers: { ...headers, 'Content-Length': String(body.length) },
        lookup: pinned,
        agent: false,
        signal: AbortSignal.timeout(o.timeoutMs),
      },
      (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const done = () => {
          resolve({
            code: response.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8').slice(0, o.maxResponseBytes),
          });
          response.destroy();
        };
        response.on('data', (chunk: Buffer) => {
          if (size >= o.maxResponseBytes) return;
          chunks.push(chunk);
          size += chunk.length;
          // Enough to show what the receiver said; the rest is not read.
          if (size >= o.maxResponseBytes) done();
        });
        response.on('end', done);
        response.on('error', reject);
      },
    );
    request.on('error', (e: NodeJS.ErrnoException) =>
      reject(
        e.name === 'AbortError' || e.name === 'TimeoutError'
          ? new Error(`no answer within ${o.timeoutMs / 1000} s`)
          : e,
      ),
    );
    request.end(body);
  });
}
