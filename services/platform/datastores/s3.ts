// The few S3 calls datastore backups make (HEAD a bucket, PUT an object or
// its parts, list, GET, DELETE), signed with AWS Signature V4 by aws4fetch
// and sent by Node's own fetch: any S3-compatible endpoint (AWS, MinIO,
// Ceph, R2, ...), buckets addressed by path (ENDPOINT/BUCKET/KEY), which
// all of them answer. aws4fetch is imported on the first call, so a process
// that never sends a backup to S3 never loads it (test/unit/start-modules).
//
// Every call has a time limit and no retry of its own: an endpoint that
// does not answer is one line (BERTH_E_DATASTORE_ENDPOINT) within ANSWER_MS,
// not a command that hangs. A download has no limit on its whole, only on
// its pauses (getStream).
import { open, readFile } from 'node:fs/promises';
import { PassThrough, Readable } from 'node:stream';
import type { AwsClient } from 'aws4fetch';
import type { DatastoreS3 } from '../../core/config.ts';
import { BerthError } from '../../core/errors.ts';

/** How long the endpoint has to answer a call (a part's upload: PART_MS). */
export const ANSWER_MS = 10_000;
const PART_MS = 10 * 60_000;
/** Objects up to this are one PUT; larger ones go in parts of this size (S3 allows 10,000). */
export const PART_BYTES = 16 * 1024 * 1024;

/** An S3 bucket backups go to: the operator's endpoint and keys, the bucket a command named. */
export interface Bucket {
  s3: DatastoreS3;
  name: string;
}

const clients = new WeakMap<DatastoreS3, AwsClient>();

async function client(s3: DatastoreS3): Promise<AwsClient> {
  let c = clients.get(s3);
  if (!c) {
    const { AwsClient } = await import('aws4fetch');
    c = new AwsClient({
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
      service: 's3',
      region: s3.region,
      retries: 0,
    });
    clients.set(s3, c);
  }
  return c;
}

const fail = (b: Bucket, reason: string, cause?: unknown) =>
  new BerthError(
    'BERTH_E_DATASTORE_ENDPOINT',
    { endpoint: b.s3.endpoint, reason },
    cause === undefined ? undefined : { cause },
  );

/** The one line for a failed call: no answer in time, no connection, or the endpoint's own error. */
async function failure(b: Bucket, what: string, e: unknown, ms: number): Promise<BerthError> {
  if (e instanceof BerthError) return e;
  if (e instanceof Response) {
    const text = await e.text().catch(() => '');
    const code = /<Code>([^<]{1,60})<\/Code>/.exec(text)?.[1];
    if (code === 'NoSuchBucket' || (e.status === 404 && what.startsWith('HEAD bucket')))
      return fail(b, `has no bucket "${b.name}"`);
    if (e.status === 403)
      return fail(b, `refused the keys for bucket "${b.name}" (${code ?? '403'}) on ${what}`);
    return fail(b, `answered ${e.status}${code ? ` ${code}` : ''} on ${what}`);
  }
  const err = e as Error & { cause?: { code?: string; message?: string } };
  if (err.name === 'TimeoutError' || err.name === 'AbortError') {
    return fail(b, `did not answer ${what} within ${ms / 1000} s`, e);
  }
  const why = err.cause?.code ?? err.cause?.message ?? err.message;
  return fail(b, `cannot be reached (${String(why).slice(0, 120)}) on ${what}`, e);
}

type Query = Record<string, string>;

async function call(
  b: Bucket,
  what: string,
  method: string,
  key: string,
  o: {
    query?: Query;
    body?: Buffer | string;
    ok?: number[];
    ms?: number;
    signal?: AbortSignal | undefined;
  } = {},
): Promise<Response> {
  const ms = o.ms ?? ANSWER_MS;
  const url = new URL(
    `${b.s3.endpoint}/${b.name}${key === '' ? '' : `/${key.split('/').map(encodeURIComponent).join('/')}`}`,
  );
  for (const [k, v] of Object.entries(o.query ?? {})) url.searchParams.set(k, v);
  const limits = [AbortSignal.timeout(ms), ...(o.signal ? [o.signal] : [])];
  const limit = limits.length === 1 ? (limits[0] as AbortSignal) : AbortSignal.any(limits);
  try {
    const c = await client(b.s3);
    const res = await c.fetch(url.toString(), {
      method,
      ...(o.body === undefined ? {} : { body: o.body }),
      signal: limit,
    });
    if (!(o.ok ?? [200]).includes(res.status)) throw res;
    return res;
  } catch (e) {
    if (o.signal?.aborted) throw o.signal.reason;
    throw await failure(b, what, e, ms);
  }
}

/** The bucket is there and the keys may use it: BERTH_E_DATASTORE_ENDPOINT within ANSWER_MS otherwise. */
export async function checkBucket(b: Bucket, signal?: AbortSignal): Promise<void> {
  const r = await call(b, `HEAD bucket "${b.name}"`, 'HEAD', '', { signal });
  await r.body?.cancel();
}

export async function putText(b: Bucket, key: string, text: string, signal?: AbortSignal) {
  const r = await call(b, `PUT ${key}`, 'PUT', key, { body: text, signal });
  await r.body?.cancel();
}

/** Uploads `file` (of `size` bytes) as `key`: one PUT, or a multipart upload, aborted on failure. */
export async function putFile(
  b: Bucket,
  key: string,
  file: string,
  size: number,
  signal?: AbortSignal,
): Promise<void> {
  if (size <= PART_BYTES) {
    const r = await call(b, `PUT ${key}`, 'PUT', key, {
      body: await readFile(file),
      ms: PART_MS,
      signal,
    });
    await r.body?.cancel();
    return;
  }
  const created = await call(b, `upload of ${key}`, 'POST', key, {
    query: { uploads: '' },
    signal,
  });
  const uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(await created.text())?.[1];
  if (!uploadId) throw fail(b, `gave no upload id for ${key}`);
  const handle = await open(file, 'r');
  try {
    const etags: string[] = [];
    const buf = Buffer.alloc(PART_BYTES);
    for (let at = 0, part = 1; at < size; at += PART_BYTES, part++) {
      const { bytesRead } = await handle.read(buf, 0, PART_BYTES, at);
      const r = await call(b, `part ${part} of ${key}`, 'PUT', key, {
        query: { partNumber: String(part), uploadId },
        body: Buffer.from(buf.subarray(0, bytesRead)),
        ms: PART_MS,
        signal,
      });
      await r.body?.cancel();
      const etag = r.headers.get('etag');
      if (!etag) throw fail(b, `gave no ETag for part ${part} of ${key}`);
      etags.push(etag);
    }
    const done = await call(b, `completing ${key}`, 'POST', key, {
      query: { uploadId },
      body: `<CompleteMultipartUpload>${etags.map((e, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${e.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</ETag></Part>`).join('')}</CompleteMultipartUpload>`,
      ms: PART_MS,
      signal,
    });
    // S3 may answer 200 with an error in the body when completing.
    const text = await done.text();
    if (/<Error>/.test(text)) throw fail(b, `did not complete ${key}: ${text.slice(0, 200)}`);
  } catch (e) {
    await call(b, `abort of ${key}`, 'DELETE', key, { query: { uploadId }, ok: [204, 200, 404] })
      .then((r) => r.body?.cancel())
      .catch(() => {});
    throw e;
  } finally {
    await handle.close();
  }
}

const unescapeXml = (s: string) =>
  s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');

/** The keys under `prefix`, with their sizes (ListObjectsV2, every page). */
export async function listKeys(
  b: Bucket,
  prefix: string,
  signal?: AbortSignal,
): Promise<{ key: string; size: number }[]> {
  const found: { key: string; size: number }[] = [];
  let token: string | undefined;
  do {
    const r = await call(b, `listing ${prefix}`, 'GET', '', {
      query: { 'list-type': '2', prefix, ...(token ? { 'continuation-token': token } : {}) },
      signal,
    });
    const text = await r.text();
    for (const m of text.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)) {
      const key = /<Key>([^<]*)<\/Key>/.exec(m[1] ?? '')?.[1];
      const size = /<Size>([0-9]+)<\/Size>/.exec(m[1] ?? '')?.[1];
      if (key !== undefined) found.push({ key: unescapeXml(key), size: Number(size ?? 0) });
    }
    token = /<IsTruncated>true<\/IsTruncated>/.test(text)
      ? /<NextContinuationToken>([^<]+)<\/NextContinuationToken>/.exec(text)?.[1]
      : undefined;
  } while (token);
  return found;
}

export async function getText(b: Bucket, key: string, signal?: AbortSignal): Promise<string> {
  return (await call(b, `GET ${key}`, 'GET', key, { signal })).text();
}

/** The object's text, or undefined when there is no such key (404). */
export async function getTextIfAny(
  b: Bucket,
  key: string,
  signal?: AbortSignal,
): Promise<string | undefined> {
  const r = await call(b, `GET ${key}`, 'GET', key, { ok: [200, 404], signal });
  if (r.status === 404) {
    await r.body?.cancel();
    return undefined;
  }
  return r.text();
}

/**
 * The object's bytes as a stream: the answer within ANSWER_MS, then no
 * pause longer than ANSWER_MS between two pieces of it (a large dump may
 * take as long as it takes to come; an endpoint that stops sending fails
 * it in one line, BERTH_E_DATASTORE_ENDPOINT).
 */
export async function getStream(b: Bucket, key: string, signal?: AbortSignal): Promise<Readable> {
  const idle = new AbortController();
  let timer = setTimeout(() => idle.abort(), ANSWER_MS);
  const touch = () => {
    clearTimeout(timer);
    timer = setTimeout(() => idle.abort(), ANSWER_MS);
  };
  const limit = signal ? AbortSignal.any([signal, idle.signal]) : idle.signal;
  let r: Response;
  try {
    r = await call(b, `GET ${key}`, 'GET', key, { signal: limit, ms: 2 ** 31 - 1 });
  } catch (e) {
    clearTimeout(timer);
    if (idle.signal.aborted && !signal?.aborted) {
      throw fail(b, `did not answer GET ${key} within ${ANSWER_MS / 1000} s`, e);
    }
    throw e;
  }
  if (!r.body) {
    clearTimeout(timer);
    throw fail(b, `sent no body for ${key}`);
  }
  touch();
  const body = Readable.fromWeb(r.body as import('node:stream/web').ReadableStream);
  const out = new PassThrough();
  body.on('data', touch);
  body.on('end', () => clearTimeout(timer));
  body.on('error', (e) => {
    clearTimeout(timer);
    out.destroy(
      idle.signal.aborted && !signal?.aborted
        ? fail(b, `stopped sending ${key} for ${ANSWER_MS / 1000} s`, e)
        : e,
    );
  });
  return body.pipe(out);
}

export async function removeKey(b: Bucket, key: string, signal?: AbortSignal): Promise<void> {
  const r = await call(b, `DELETE ${key}`, 'DELETE', key, { ok: [204, 200, 404], signal });
  await r.body?.cancel();
}
