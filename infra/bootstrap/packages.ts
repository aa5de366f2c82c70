// The Debian packages Berth runs on, installed when a program they provide is
// missing. Checking for the programs (not asking dpkg) keeps a warm start fast
// and lets an operator provide them any other way.
import { rm, writeFile } from 'node:fs/promises';
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

/**
 * Package → its system service, kept off when Berth installs the package:
 * Berth runs its own redis-server (AOF, under the data directory), and the
 * package's own on 6379 would stand in its place at the default REDIS_URL,
 * without AOF.
 */
export const KEEP_STOPPED: Readonly<Record<string, string>> = { 'redis-server': 'redis-server' };

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
  /**
   * Package → the system service it ships, which must stay off: not started
   * by the install, not enabled at boot (a benchmark's nginx must never hold
   * port 80, where Berth's router listens), besides KEEP_STOPPED. Only the
   * services of packages this call installs are touched; an operator's own
   * stay as they are.
   */
  keepStopped?: Readonly<Record<string, string>>;
}

/**
 * invoke-rc.d and deb-systemd-invoke ask this program before a maintainer
 * script starts a service; exit code 101 means "not now"
 * (/usr/share/doc/init-system-helpers/README.policy-rc.d).
 */
const POLICY_RC_D = '/usr/sbin/policy-rc.d';

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
  const keep = { ...KEEP_STOPPED, ...o.keepStopped };
  const services = missing.flatMap((p) => keep[p] ?? []);
  // An existing policy is the operator's and stays; ours goes after the install.
  const holdServices =
    services.length > 0 &&
    (await writeFile(POLICY_RC_D, '#!/bin/sh\nexit 101\n', { mode: 0o755, flag: 'wx' }).then(
      () => true,
      () => false,
    ));
  const install = await run('apt-get', [...aptOpts, 'install', '-y', ...missing], {
    step,
    env,
  }).finally(() => (holdServices ? rm(POLICY_RC_D, { force: true }) : undefined));
  if (install.code !== 0) {
    const reason = install.tail.filter((l) => /^E:/.test(l)).at(-1) ?? install.tail.at(-1) ?? '';
    step.fail(reason);
    throw new BerthError('BERTH_E_INSTALL', { packages, reason });
  }
  for (const service of services) await keepOff(service, o.searchPath, env);
  step.done(`installed ${packages}`);
  return missing;
}

/**
 * Stops a service (in case an operator's policy let the install start it)
 * and takes it out of boot, where the package's postinst enabled it. Each
 * tool may be missing or find nothing to do; neither is an error.
 */
async function keepOff(service: string, searchPath: string, env: NodeJS.ProcessEnv) {
  // invoke-rc.d stops it under systemd or SysV init alike.
  const tools: [string, string[]][] = [
    ['invoke-rc.d', [service, 'stop']],
    ['systemctl', ['disable', `${service}.service`]],
    ['update-rc.d', [service, 'disable']],
  ];
  for (const [tool, args] of tools) {
    if ((await findProgram(tool, searchPath)) !== undefined) await run(tool, args, { env });
  }
}
