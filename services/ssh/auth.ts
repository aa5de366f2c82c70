// Who a connecting client is: public-key authentication against the keys in
// the store. ssh2 parses the request but checks nothing itself, so every step
// is here: the key must be registered (looked up by fingerprint, compared with
// the stored blob in constant time), its algorithm must be the stored key's,
// and the signature over the session must verify with the stored key.
import { timingSafeEqual } from 'node:crypto';
import ssh2 from 'ssh2';
import type { Actor } from '../core/actor.ts';
import { isBerthError } from '../core/errors.ts';
import { fingerprint as fingerprintOf, KEY_TYPES } from '../core/ssh-key.ts';
import type { Store } from '../core/store/index.ts';

export type UserActor = Extract<Actor, { kind: 'user' }>;

/** What the server answers one public-key request with. */
export type PublicKeyDecision =
  /** A probe ("would you take this key?") for a registered key: the client goes on to sign. */
  | { kind: 'acceptable'; fingerprint: string; user: string }
  /** A valid signature by a registered key. */
  | { kind: 'authenticated'; actor: UserActor }
  /**
   * The store did not answer in time (Redis down): the client is let in to
   * be told so in one line, and nothing else (ssh-server.ts), instead of
   * hanging while Redis' client retries and then hearing only "denied".
   */
  | { kind: 'unavailable'; fingerprint: string; error: unknown }
  | {
      kind: 'refused';
      /** Why, for the log only: the client is told nothing but "no". */
      reason: string;
      fingerprint: string;
      user?: string;
      /** The lookup failed (Redis down, a corrupt record); log it as an error. */
      error?: unknown;
    };

/** The parts of ssh2's PublicKeyAuthContext the decision reads. */
export interface PublicKeyRequest {
  key: { algo: string; data: Buffer };
  signature?: Buffer | undefined;
  blob?: Buffer | undefined;
  hashAlgo?: string | undefined;
}

/** How long a key lookup may take before the store counts as down. */
export const LOOKUP_TIMEOUT_MS = 3000;

const sameBytes = (a: Buffer, b: Buffer): boolean => a.length === b.length && timingSafeEqual(a, b);

export async function decidePublicKey(
  users: Pick<Store['users'], 'identify'>,
  request: PublicKeyRequest,
): Promise<PublicKeyDecision> {
  const offered = request.key.data;
  const fingerprint = fingerprintOf(offered);
  const refused = (reason: string, extra: { user?: string; error?: unknown } = {}) =>
    ({ kind: 'refused', reason, fingerprint, ...extra }) as const;

  if (!(KEY_TYPES as readonly string[]).includes(request.key.algo)) {
    return refused(`key type ${JSON.stringify(request.key.algo.slice(0, 64))} is not accepted`);
  }
  // RSA signed with SHA-1 ("ssh-rsa"): refused, as OpenSSH itself has done since 8.8.
  if (request.key.algo === 'ssh-rsa' && request.hashAlgo === undefined) {
    return refused('RSA signatures with SHA-1 are not accepted (use rsa-sha2-256/512)');
  }

  let found: Awaited<ReturnType<Store['users']['identify']>>;
  let timer: NodeJS.Timeout | undefined;
  try {
    found = await Promise.race([
      users.identify(offered),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${LOOKUP_TIMEOUT_MS} ms`)),
          LOOKUP_TIMEOUT_MS,
        );
      }),
    ]);
  } catch (error) {
    // A record Berth cannot read is a refusal; anything else is the store not answering.
    if (isBerthError(error)) return refused('the key lookup failed', { error });
    return { kind: 'unavailable', fingerprint, error };
  } finally {
    clearTimeout(timer);
  }
  if (found === undefined) return refused('unknown key');
  const { key, user } = found;
  const stored = Buffer.from(key.key, 'base64');
  if (!sameBytes(stored, offered)) return refused('unknown key');
  if (key.type !== request.key.algo) {
    return refused(`the request names ${request.key.algo} for a ${key.type} key`, {
      user: user.name,
    });
  }

  if (request.signature === undefined || request.blob === undefined) {
    return { kind: 'acceptable', fingerprint, user: user.name };
  }
  const parsed = ssh2.utils.parseKey(`${key.type} ${key.key}`);
  if (parsed instanceof Error) {
    return refused('the stored key does not parse', { user: user.name, error: parsed });
  }
  // verify() answers true, false, or an Error object (which is truthy): only true passes.
  // (@types/ssh2 says boolean only.)
  const verified = parsed.verify(request.blob, request.signature, request.hashAlgo) as
    | boolean
    | Error;
  if (verified !== true) {
    const reason =
      verified instanceof Error ? `bad signature (${verified.message})` : 'bad signature';
    return refused(reason, { user: user.name });
  }
  return {
    kind: 'authenticated',
    actor: { kind: 'user', user: user.name, role: user.role, credential: fingerprint },
  };
}
