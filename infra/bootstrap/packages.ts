// The Debian packages Berth runs on, installed when a program they provide is
// missing. Checking for the programs (not asking dpkg) keeps a warm start fast
// and lets an operator provide them any other way.
import { BerthError } from '../../services/core/errors.ts';
import { findProgram } from '../../services/core/programs.ts';
import type { Progress } from './progress.ts';
import { run } from './run.ts';

/** Program → the Debian package that provides it. */
export const REQUIRED_PROGRAMS: Readonly<Record<string, string>> = {
  dockerd: 'docker.io',
  'redis-server': 'redis-server',
  mmdebstrap: 'mmdebstrap',
  git: 'git',
  ssh: 'openssh-client',
  'ssh-keygen': 'openssh-client',
};

/** The packages whose programs are missing, in a stable order. */
export async function missingPackages(
  searchPath: string,
  programs: Readonly<Record<string, string>> = REQUIRED_PROGRAMS,
): Promise<string[]> {
  const missing = new Set<string>();
  for (const [program, pkg] of Object.entries(programs)) {
    if ((await findProgram(program, searchPath)) === undefined) missing.add(pkg);
  }
  return [...missing].sort();
}

export interface EnsurePackagesOptions {
  progress: Progress;
  searchPath: string;
  isRoot: boolean;
  programs?: Readonly<Record<string, string>>;
}

/** Installs what is missing with apt-get; a no-op taking milliseconds when nothing is. */
export async function ensurePackages(o: EnsurePackagesOptions): Promise<string[]> {
  const missing = await missingPackages(o.searchPath, o.programs);
  if (missing.length === 0) return [];
  const packages = missing.join(' ');
  if (!o.isRoot) throw new BerthError('BERTH_E_NOT_ROOT', { action: `installing ${packages}` });
  if ((await findProgram('apt-get', o.searchPath)) === undefined) {
    throw new BerthError('BERTH_E_NO_APT', { packages });
  }
  const env = { PATH: o.searchPath, DEBIAN_FRONTEND: 'noninteractive', LC_ALL: 'C' };
  const step = o.progress.step(`Installing Debian packages: ${packages} (first start only)`);
  const aptOpts = ['-q', '-o', 'Dpkg::Progress-Fancy=0', '-o', 'APT::Color=0'];
  const update = await run('apt-get', [...aptOpts, 'update'], { step, env });
  if (update.code !== 0) {
    const reason = update.tail.at(-1) ?? `apt-get update exit code ${update.code}`;
    step.fail(reason);
    throw new BerthError('BERTH_E_INSTALL', { packages, reason });
  }
  const install = await run('apt-get', [...aptOpts, 'install', '-y', ...missing], { step, env });
  if (install.code !== 0) {
    const reason = install.tail.filter((l) => /^E:/.test(l)).at(-1) ?? install.tail.at(-1) ?? '';
    step.fail(reason);
    throw new BerthError('BERTH_E_INSTALL', { packages, reason });
  }
  step.done(`installed ${packages}`);
  return missing;
}
