// Dokku's `docker-options:add APP PHASE OPTION`, the safe part of it. Dokku
// pastes the option into a `docker run` line; Berth never builds one: each
// option is parsed here into the Docker API field it means, from a short
// allow-list, and everything that would hand the host to the app is refused
// in one line saying why (issue 20). Admins alone add options, and the
// options are parsed again whenever a container is made from them, so a
// stored value cannot carry more than this file lets through.
import { realpathSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { BerthError } from './errors.ts';
import * as validate from './validate.ts';

/** What accepted options become: Docker API fields, each checked below. */
export interface DockerOptionFields {
  shmSize?: number;
  ulimits?: readonly { Name: string; Soft: number; Hard: number }[];
  extraHosts?: readonly string[];
  labels?: Readonly<Record<string, string>>;
  env?: Readonly<Record<string, string>>;
  tmpfs?: Readonly<Record<string, string>>;
  /** Bind mounts of host paths under the storage directory or an allowed path. */
  binds?: readonly { source: string; target: string; readOnly: boolean }[];
  stopSignal?: string;
  dns?: readonly string[];
}

/** Dokku's phases Berth applies options to: deploy (instances) and run (one-offs, cron). */
export const DOCKER_OPTION_PHASES = ['deploy', 'run'] as const;
export type DockerOptionPhase = (typeof DOCKER_OPTION_PHASES)[number];

/** The options Berth accepts, as the refusal of any other lists them. */
export const ACCEPTED_OPTIONS = [
  '--shm-size',
  '--ulimit',
  '--add-host',
  '--label',
  '--env',
  '--tmpfs',
  '--volume',
  '--stop-signal',
  '--dns',
] as const;

const SHORT: Readonly<Record<string, string>> = {
  '-e': '--env',
  '-l': '--label',
  '-v': '--volume',
};

/** Options that give the host away, with why; matched before anything else. */
const REFUSED: Readonly<Record<string, string>> = {
  '--privileged': 'it gives the container every capability and device of the host',
  '--cap-add': 'it gives the container a kernel capability Berth drops',
  '--security-opt': 'it loosens the seccomp, AppArmor or no-new-privileges confinement',
  '--device': 'it gives the container a device of the host',
  '--device-cgroup-rule': 'it gives the container devices of the host',
  '--gpus': 'it gives the container devices of the host',
  '--pid': "it shares a process namespace (the host's or another container's)",
  '--ipc': "it shares an IPC namespace (the host's or another container's)",
  '--uts': "it shares the host's UTS namespace",
  '--userns': "it leaves the host's user namespace mapping",
  '--cgroupns': "it shares the host's cgroup namespace",
  '--cgroup-parent': "it moves the container out of Docker's cgroup",
  '--network':
    "Berth puts each app on its own network (network:set for shared ones); host would share the host's",
  '--net':
    "Berth puts each app on its own network (network:set for shared ones); host would share the host's",
  '--volumes-from': "it mounts another container's volumes",
  '--mount': 'use --volume HOST:CONTAINER[:ro] (bind mounts of allowed paths only)',
  '--user': 'the app runs as the user its image and Berth choose',
  '-u': 'the app runs as the user its image and Berth choose',
  '--restart': 'use ps:set APP restart-policy',
  '--memory': 'use resource:limit APP --memory',
  '-m': 'use resource:limit APP --memory',
  '--cpus': 'use resource:limit APP --cpus',
  '--pids-limit': 'use resource:limit APP --pids',
  '--log-driver': 'use logs:set APP max-size',
  '--log-opt': 'use logs:set APP max-size',
  '--publish': 'the router serves the app (ports:set); a published port would bypass it',
  '-p': 'the router serves the app (ports:set); a published port would bypass it',
  '--oom-kill-disable': 'it lets one app take the machine’s memory',
  '--sysctl': 'it changes kernel settings of the container’s namespaces',
};

const ULIMITS: Readonly<Record<string, number>> = {
  nofile: 1_048_576,
  nproc: 1_000_000,
  core: 0,
  memlock: 64 * 1024 ** 2,
  stack: 1024 ** 3,
  msgqueue: 64 * 1024 ** 2,
  sigpending: 1_000_000,
};

const refuse = (option: string, reason: string): never => {
  const shown = JSON.stringify(option.length > 80 ? `${option.slice(0, 80)}…` : option);
  throw new BerthError('BERTH_E_DOCKER_OPTION_REFUSED', { option: shown, reason });
};

/** The allowed roots of bind mounts: the storage directory, and what the operator allowed. */
export interface BindPolicy {
  /** $BERTH_DATA_DIR/storage. */
  storageDir: string;
  /** BERTH_STORAGE_ALLOWED_PATHS. */
  allowed: readonly string[];
}

/** Host paths no allowed root may reach, whatever the operator listed. */
const NEVER_BOUND = [
  '/',
  '/proc',
  '/sys',
  '/dev',
  '/etc',
  '/boot',
  '/root',
  '/run',
  '/var/run',
  '/var/lib/docker',
  '/var/lib/containerd',
  '/usr',
  '/bin',
  '/sbin',
  '/lib',
];

const under = (p: string, root: string) => p === root || p.startsWith(`${root}/`);

/**
 * A host path for a bind mount: absolute, normalized already (no `.`, `..`,
 * `//`), never the Docker socket or a system directory, and (when `policy`
 * is given, at add time) under the storage directory or an allowed path.
 */
export function hostPath(option: string, value: string, policy: BindPolicy | undefined): string {
  if (
    !value.startsWith('/') ||
    path.posix.normalize(value) !== value ||
    (value !== '/' && value.endsWith('/'))
  ) {
    refuse(
      option,
      `host path ${JSON.stringify(value)} must be absolute and normalized (no .., no // and no trailing /)`,
    );
  }
  if (!/^[A-Za-z0-9._/+@-]+$/.test(value) || value.length > 255) {
    refuse(option, 'a host path is letters, digits, . _ - + @ and /');
  }
  if (/docker\.sock|containerd\.sock/.test(value)) {
    refuse(option, 'the Docker socket is root on the host');
  }
  if (NEVER_BOUND.some((r) => (r === '/' ? value === '/' : under(value, r)))) {
    refuse(option, `${value} is a system directory of the host`);
  }
  if (policy) {
    const roots = [policy.storageDir, ...policy.allowed];
    if (!roots.some((r) => under(value, r))) {
      refuse(
        option,
        `${value} is outside ${policy.storageDir}${policy.allowed.length > 0 ? ` and ${policy.allowed.join(', ')}` : ''} (BERTH_STORAGE_ALLOWED_PATHS lists the host paths admins may mount)`,
      );
    }
  }
  return value;
}

/** `HOST:CONTAINER[:ro|rw]`, a bind mount of an allowed host path; named volumes are storage:mount's. */
export function bindMount(
  option: string,
  value: string,
  policy: BindPolicy | undefined,
): { source: string; target: string; readOnly: boolean } {
  const [source = '', target = '', mode, ...more] = value.split(':');
  if (more.length > 0 || (mode !== undefined && mode !== 'ro' && mode !== 'rw')) {
    refuse(option, 'use HOST:CONTAINER or HOST:CONTAINER:ro');
  }
  if (!source.startsWith('/')) {
    refuse(
      option,
      'named volumes are storage:mount APP NAME:/path; here only host paths (HOST:CONTAINER)',
    );
  }
  try {
    validate.containerPath(target);
  } catch (e) {
    refuse(option, (e as Error).message);
  }
  return { source: hostPath(option, source, policy), target, readOnly: mode === 'ro' };
}

/** Splits `--flag value`, `--flag=value` and several of them in one string into [flag, value] pairs. */
function pairs(text: string): [flag: string, value: string | undefined, raw: string][] {
  if (/[\0-\x1f\x7f'"`$\\]/.test(text)) {
    refuse(
      text,
      'quotes, backslashes, $ and control characters are not read: give one plain option and its value',
    );
  }
  const words = text.trim().split(/ +/).filter(Boolean);
  const out: [string, string | undefined, string][] = [];
  for (let i = 0; i < words.length; i++) {
    const word = words[i] ?? '';
    if (!word.startsWith('-')) refuse(word, 'a value without its option');
    const eq = word.indexOf('=');
    const rawFlag = eq === -1 ? word : word.slice(0, eq);
    const flag = SHORT[rawFlag] ?? rawFlag;
    if (REFUSED[rawFlag] !== undefined || REFUSED[flag] !== undefined) {
      refuse(word, REFUSED[rawFlag] ?? REFUSED[flag] ?? '');
    }
    if (!(ACCEPTED_OPTIONS as readonly string[]).includes(flag)) {
      refuse(word, `not one Berth maps to Docker safely; accepted: ${ACCEPTED_OPTIONS.join(' ')}`);
    }
    let value: string | undefined;
    if (eq !== -1) value = word.slice(eq + 1);
    else {
      value = words[i + 1];
      i++;
    }
    if (value === undefined || value === '' || value.startsWith('-'))
      refuse(word, `${flag} needs a value`);
    out.push([flag, value, `${flag}=${value}`]);
  }
  if (out.length === 0) refuse(text, 'give an option, such as --shm-size 256m');
  return out;
}

const BERTH_LABEL = /^(?:berth|com\.docker|org\.opencontainers)\b/i;

/**
 * Parses options (as docker-options:add takes them) into their canonical
 * `--flag=value` forms, refusing what is not accepted; `policy` checks bind
 * mounts against the allowed host paths (given when an admin adds them).
 */
export function parseDockerOptions(text: string, policy: BindPolicy | undefined): string[] {
  const canonical: string[] = [];
  for (const [flag, value = '', raw] of pairs(text)) {
    applyOne({}, flag, value, policy);
    canonical.push(raw);
  }
  return canonical;
}

function applyOne(
  f: Mutable<DockerOptionFields>,
  flag: string,
  value: string,
  policy: BindPolicy | undefined,
): void {
  const opt = `${flag}=${value}`;
  switch (flag) {
    case '--shm-size': {
      let bytes = 0;
      try {
        bytes = validate.memorySize(value);
      } catch {
        refuse(opt, 'use a size such as 256m');
      }
      if (bytes > 4 * 1024 ** 3) refuse(opt, 'at most 4g');
      f.shmSize = bytes;
      return;
    }
    case '--ulimit': {
      const m = /^([a-z]+)=([0-9]{1,10})(?::([0-9]{1,10}))?$/.exec(value);
      const max = m ? ULIMITS[m[1] ?? ''] : undefined;
      if (!m || max === undefined) {
        refuse(opt, `use NAME=SOFT[:HARD] with NAME one of ${Object.keys(ULIMITS).join(', ')}`);
      }
      const soft = Number(m?.[2]);
      const hard = Number(m?.[3] ?? m?.[2]);
      if (soft > hard || hard > (max ?? 0)) refuse(opt, `at most ${max}, soft not above hard`);
      f.ulimits = [...(f.ulimits ?? []), { Name: m?.[1] ?? '', Soft: soft, Hard: hard }];
      return;
    }
    case '--add-host': {
      const at = value.indexOf(':');
      const host = value.slice(0, at);
      const ip = value.slice(at + 1);
      if (at < 1 || isIP(ip) === 0) refuse(opt, 'use HOST:IP with a literal IP address');
      try {
        validate.domain(host);
      } catch {
        refuse(opt, 'the host is a DNS name');
      }
      f.extraHosts = [...(f.extraHosts ?? []), `${host}:${ip}`];
      return;
    }
    case '--label': {
      const [k = '', ...v] = value.split('=');
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(k))
        refuse(opt, 'use KEY=VALUE, KEY letters, digits, . _ -');
      if (BERTH_LABEL.test(k)) refuse(opt, `${k} is Berth's or Docker's own label`);
      f.labels = { ...f.labels, [k]: v.join('=') };
      return;
    }
    case '--env': {
      const [k = '', ...v] = value.split('=');
      if (v.length === 0) refuse(opt, 'use KEY=VALUE');
      try {
        validate.envKey(k);
      } catch {
        refuse(opt, 'the key is a config key (letters, digits, _)');
      }
      f.env = { ...f.env, [k]: v.join('=') };
      return;
    }
    case '--tmpfs': {
      const [target = '', opts = ''] = value.split(/:(.*)/s);
      try {
        validate.containerPath(target);
      } catch (e) {
        refuse(opt, (e as Error).message);
      }
      const ok =
        opts === '' ||
        opts
          .split(',')
          .every((o) => /^(?:size=[0-9]{1,7}[kmg]?|mode=[0-7]{3,4}|noexec|nosuid|nodev)$/.test(o));
      if (!ok) refuse(opt, 'options are size=N[k|m|g], mode=NNNN, noexec, nosuid, nodev');
      f.tmpfs = { ...f.tmpfs, [target]: opts };
      return;
    }
    case '--volume':
      f.binds = [...(f.binds ?? []), bindMount(opt, value, policy)];
      return;
    case '--stop-signal':
      if (!/^(?:SIG)?[A-Z0-9+-]{2,12}$|^[0-9]{1,2}$/.test(value))
        refuse(opt, 'use a signal such as SIGINT');
      f.stopSignal = value;
      return;
    case '--dns':
      if (isIP(value) === 0) refuse(opt, 'use an IP address');
      f.dns = [...(f.dns ?? []), value];
      return;
    default:
      refuse(opt, `accepted: ${ACCEPTED_OPTIONS.join(' ')}`);
  }
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * The fields of the options stored for a phase, each parsed again (the
 * host-path rules other than the allow-list too, which was checked when
 * the option was added).
 */
export function dockerOptionFields(
  stored: Readonly<Record<DockerOptionPhase, readonly string[]>>,
  phase: DockerOptionPhase,
): DockerOptionFields | undefined {
  const options = stored[phase];
  if (options.length === 0) return undefined;
  const f: Mutable<DockerOptionFields> = {};
  for (const text of options) {
    for (const [flag, value = ''] of pairs(text)) applyOne(f, flag, value, undefined);
  }
  return f;
}

/**
 * A bind source as the Engine will open it must be the path that was
 * checked: a symlink anywhere in it (one an app wrote into a mounted
 * directory, say) would let it point the mount at /etc. Checked when an
 * option is added and again when a container is made from it.
 */
export function noSymlinks(option: string, source: string): void {
  let real = '';
  try {
    real = realpathSync(source);
  } catch {
    refuse(option, `${source} does not exist on this machine`);
  }
  if (real !== source) refuse(option, `${source} leads through a symlink (to ${real})`);
}
