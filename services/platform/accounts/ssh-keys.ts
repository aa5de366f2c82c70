// Adding SSH keys to users: the one function behind `berth ssh-keys:add` on
// the server and over SSH, and BERTH_ADMIN_PUBKEY at start.
import { BerthError } from '../../core/errors.ts';
import type { Role, SshKey, Store } from '../../core/store/index.ts';

export interface AddKeyResult {
  key: SshKey;
  user: string;
  role: Role;
  /** The user did not exist and was created for this key. */
  createdUser: boolean;
}

/**
 * Registers a public key for `user`, creating the user when needed. A new user
 * is an admin when asked, or when no admin exists yet (the first key on a
 * fresh Berth must be able to administer it); otherwise a plain user.
 */
export async function addSshKey(
  store: Store,
  o: { user: string; publicKey: string; role?: Role },
): Promise<AddKeyResult> {
  const existing = await store.users.get(o.user);
  let role: Role;
  let createdUser = false;
  if (existing) {
    role = existing.role;
    if (o.role !== undefined && o.role !== existing.role) {
      await store.users.setRole(o.user, o.role);
      role = o.role;
    }
  } else {
    const admins = (await store.users.list()).filter((u) => u.role === 'admin');
    role = o.role ?? (admins.length === 0 ? 'admin' : 'user');
    await store.users.create(o.user, role);
    createdUser = true;
  }
  try {
    const key = await store.users.addKey(o.user, o.publicKey);
    return { key, user: o.user, role, createdUser };
  } catch (e) {
    // A refused key leaves no empty user behind.
    if (createdUser) await store.users.remove(o.user).catch(() => {});
    throw e;
  }
}

/**
 * Makes sure every key in the BERTH_ADMIN_PUBKEY file belongs to an admin:
 * added to user "admin" when new, left alone when already registered to an
 * admin. Returns one line per key for the start-up output.
 */
export async function ensureAdminKeys(store: Store, fileText: string): Promise<string[]> {
  const lines = fileText
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  if (lines.length === 0) {
    throw new BerthError('BERTH_E_KEY_INVALID', {
      reason: 'the BERTH_ADMIN_PUBKEY file has no key',
    });
  }
  const report: string[] = [];
  for (const line of lines) {
    try {
      const r = await addSshKey(store, { user: 'admin', publicKey: line, role: 'admin' });
      report.push(`added admin key ${r.key.fingerprint} for user admin`);
    } catch (e) {
      if (!(e instanceof BerthError) || e.code !== 'BERTH_E_KEY_EXISTS') throw e;
      const holder = await store.users.get(String(e.params.user));
      if (holder?.role !== 'admin') {
        report.push(
          `key ${e.params.fingerprint} belongs to user "${e.params.user}", who is not an admin; left as it is`,
        );
      }
    }
  }
  return report;
}
