// One plain HTTP client for tests (node:http, so that nothing decompresses
// or adds headers behind the test's back).
import http from 'node:http';

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** As sent: not decompressed. */
  body: Buffer;
}

export function httpRequest(
  o: http.RequestOptions & { body?: string; timeoutMs?: number },
): Promise<HttpAnswer> {
  const { body, timeoutMs, ...options } = o;
  return new Promise((resolve, reject) => {
    const req = http.request(options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    });
    if (timeoutMs !== undefined) {
      req.setTimeout(timeoutMs, () =>
        req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)),
      );
    }
    req.on('error', reject);
    req.end(body);
  });
}
