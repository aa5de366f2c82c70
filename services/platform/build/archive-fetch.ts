// git:from-archive APP URL: the archive fetched by the server, under the
// rule of git:sync's URLs (./git-sync.ts): https on a host whose addresses
// are all public, the connection pinned to an address checked (no second
// lookup to rebind), no redirect followed, ARCHIVE_MAX_BYTES and 5 minutes
// at most; or an http(s) URL under a BERTH_BUILDPACK_URLS prefix.
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { isIP } from 'node:net';
import { BerthError } from '../../core/errors.ts';
import * as validate from '../../core/validate.ts';
import { ARCHIVE_MAX_BYTES } from './archive.ts';
import { publicAddresses } from './git-sync.ts';

export const ARCHIVE_FETCH_TIMEOUT_MS = 5 * 60_000;

export async function fetchArchive(
  value: string,
  allowed: readonly string[],
  signal: AbortSignal,
  maxBytes = ARCHIVE_MAX_BYTES,
): Promise<Buffer> {
  const target = validate.gitRepoUrl(value, allowed, 'archive URL');
  const fail = (reason: string) =>
    new BerthError('BERTH_E_ARCHIVE', { reason: `${target.url}: ${reason}` });
  let lookup: LookupFunction | undefined;
  if (!target.operatorAllowed && isIP(target.host) === 0) {
    const [address] = await publicAddresses(target.host, fail);
    const family = isIP(address ?? '');
    lookup = (_host, options, callback) => {
      if (options.all)
        (callback as (e: null, a: { address: string; family: number }[]) => void)(null, [
          { address: address ?? '', family },
        ]);
      else callback(null, address ?? '', family);
    };
  }
  const get = target.url.startsWith('https:') ? https.get : http.get;
  return new Promise<Buffer>((resolve, reject) => {
    const req = get(
      target.url,
      { ...(lookup ? { lookup } : {}), signal, timeout: ARCHIVE_FETCH_TIMEOUT_MS },
      (res) => {
        const status = res.statusCode ?? 0;
        if (status !== 200) {
          res.resume();
          return reject(
            fail(
              status >= 300 && status < 400
                ? `it redirects (${status}); give the final URL (redirects are not followed)`
                : `the server answered ${status}`,
            ),
          );
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (d: Buffer) => {
          size += d.length;
          if (size > maxBytes) {
            req.destroy();
            reject(fail(`it is larger than ${Math.round(maxBytes / 1048576)} MB`));
          } else chunks.push(d);
        });
        res.on('end', () => resolve(Buffer.concat(chunks)));
        res.on('error', (e) => reject(fail(e.message)));
      },
    );
    req.on('timeout', () => req.destroy(fail('it took longer than 5 minutes')));
    req.on('error', (e) => reject(e instanceof BerthError ? e : fail(e.message)));
  });
}
