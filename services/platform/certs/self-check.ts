// The HTTP-01 self-check (BERTH_ACME_SELF_CHECK): before the CA is asked to
// fetch the challenge's answer, Berth fetches it itself the way the CA will
// (the domain's DNS, port 80), so that a domain whose DNS does not point here
// yet fails with that reason instead of a failed authorization at the CA.
//
// acme-client's own check (auto()'s verifyChallenge) retries 10 times with a
// backoff of up to 10 s, each try waiting on the resolver and on a fetch
// without a timeout: issue 18 saw "Answering the CA's HTTP-01 check" and
// then nothing for over 4 minutes. This one is bounded (30 s), says what it
// is waiting for at each try, and ends with the reason.
import dns from 'node:dns';
import http from 'node:http';

/** How long the self-check waits for the answer, all tries together. */
export const SELF_CHECK_LIMIT_MS = 30_000;
/** One try: the resolver, then the fetch, each at most this long. */
const TRY_TIMEOUT_MS = 5000;
/** Between tries (DNS caches and a router that just got the answer need a moment). */
const RETRY_MS = 3000;

export interface SelfCheck {
  domain: string;
  token: string;
  keyAuthorization: string;
  /** Where the CA fetches HTTP-01 answers: 80 (tests: the router's port). */
  port?: number;
  /** Default SELF_CHECK_LIMIT_MS. */
  limitMs?: number;
  /** A DNS server (host:port) to ask instead of the system's resolver (tests: pebble-challtestsrv). */
  dnsServer?: string;
  onProgress?: (line: string) => void;
}

type Try = { ok: true } | { ok: false; addresses: string[]; why: string };

const seconds = (ms: number) => `${Math.round(ms / 1000)} s`;

/** Rejects with `what` timed out when `p` takes longer than `ms` (the lookup itself cannot be stopped). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(what), { code: 'ETIMEOUT' })), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** The domain's addresses, as the CA would find them; throws with the resolver's code. */
async function resolve(domain: string, dnsServer: string | undefined): Promise<string[]> {
  if (dnsServer === undefined) {
    const found = await within(dns.promises.lookup(domain, { all: true }), TRY_TIMEOUT_MS, 'DNS');
    return found.map((a) => a.address);
  }
  const resolver = new dns.promises.Resolver({ timeout: TRY_TIMEOUT_MS, tries: 1 });
  resolver.setServers([dnsServer]);
  const [v4, v6] = await Promise.allSettled([resolver.resolve4(domain), resolver.resolve6(domain)]);
  const addresses = [
    ...(v4.status === 'fulfilled' ? v4.value : []),
    ...(v6.status === 'fulfilled' ? v6.value : []),
  ];
  if (addresses.length === 0) {
    throw v4.status === 'rejected' ? v4.reason : Object.assign(new Error(''), { code: 'ENODATA' });
  }
  return addresses;
}

/** Fetches the answer from one address with the domain as Host; why not, or undefined when it matched. */
function fetchAnswer(c: SelfCheck, address: string): Promise<string | undefined> {
  return new Promise((done) => {
    const req = http.get(
      {
        host: address,
        port: c.port ?? 80,
        path: `/.well-known/acme-challenge/${c.token}`,
        headers: { host: c.domain },
        timeout: TRY_TIMEOUT_MS,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          if (body.length < 4096) body += d;
        });
        res.on('end', () => {
          if (res.statusCode === 200 && body.trim() === c.keyAuthorization) done(undefined);
          else if (res.statusCode === 200) done('a server there answered, but not with the answer');
          else done(`a server there answered ${res.statusCode}, not the answer`);
        });
        res.on('error', (e) => done((e as NodeJS.ErrnoException).code ?? e.message));
      },
    );
    req.on('timeout', () =>
      req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })),
    );
    req.on('error', (e) => {
      const code = (e as NodeJS.ErrnoException).code;
      done(
        code === 'ECONNREFUSED'
          ? 'nothing answers there (ECONNREFUSED)'
          : `the fetch failed there (${code ?? e.message})`,
      );
    });
  });
}

async function tryOnce(c: SelfCheck): Promise<Try> {
  let addresses: string[];
  try {
    addresses = await resolve(c.domain, c.dnsServer);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    return { ok: false, addresses: [], why: `it does not resolve (${code})` };
  }
  let why = '';
  for (const address of addresses) {
    const failed = await fetchAnswer(c, address);
    if (failed === undefined) return { ok: true };
    why = failed;
  }
  return { ok: false, addresses, why: `it resolves to ${addresses.join(', ')}, and ${why}` };
}

/**
 * Fetches the challenge's answer from the domain until it matches or the
 * limit passes; a line before each wait. Throws the reason, on one line.
 */
export async function selfCheckChallenge(c: SelfCheck): Promise<void> {
  const limit = c.limitMs ?? SELF_CHECK_LIMIT_MS;
  const progress = c.onProgress ?? (() => {});
  const port = c.port ?? 80;
  const url = `http://${c.domain}${port === 80 ? '' : `:${port}`}/.well-known/acme-challenge/`;
  progress(
    `Checking that ${url} gives the answer from here, as the CA will fetch it (up to ${seconds(limit)})`,
  );
  const started = performance.now();
  for (;;) {
    const r = await tryOnce(c);
    const elapsed = performance.now() - started;
    if (r.ok) {
      progress(
        `${c.domain} gives the answer (${(elapsed / 1000).toFixed(1)} s); asking the CA to check`,
      );
      return;
    }
    if (elapsed + RETRY_MS >= limit) {
      throw new Error(
        `DNS for ${c.domain} does not point here yet: ${r.why}. Check the domain's A/AAAA records (and that port 80 reaches Berth's router), or retry later; the self-check gave up after ${seconds(elapsed)} (BERTH_ACME_SELF_CHECK=off skips it)`,
      );
    }
    progress(`${c.domain}: ${r.why}; trying again (${seconds(elapsed)} of ${seconds(limit)})`);
    await new Promise((r) => setTimeout(r, RETRY_MS));
  }
}
