// Who is asking. Every command and API call runs on behalf of an actor: a
// user who authenticated with an SSH key (or, later, an API token), or root
// on the server itself running the local `berth` command.
import type { Role } from './store/index.ts';

export type Actor =
  | {
      kind: 'user';
      user: string;
      role: Role;
      /** The SSH key's SHA256 fingerprint, or the API token's id. */
      credential: string;
      /** A read-only API token (auth:token --read-only): it may see, never change, whatever the role. */
      readOnly?: boolean;
    }
  | { kind: 'root' };

export const ROOT: Actor = Object.freeze({ kind: 'root' });

export const isAdmin = (actor: Actor): boolean => actor.kind === 'root' || actor.role === 'admin';

/** The name recorded as "by" in releases and logs. */
export const actorName = (actor: Actor): string => (actor.kind === 'root' ? 'root' : actor.user);
