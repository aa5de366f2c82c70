// Berth's systemd unit and its environment file, as `berth service:install`
// writes them (issue 17, item 2): Berth runs as a service that starts at
// boot after the Docker Engine and the network, comes back when it dies,
// and stops the way Ctrl-C stops `npm start`. Pure text; install.ts writes it.
import path from 'node:path';
import { type ConfigVar, DEFAULTS, type Env } from '../../services/core/config.ts';
import { BerthError } from '../../services/core/errors.ts';
import { systemSearchPath } from '../../services/core/programs.ts';
import { IDLE_HEAP_OPTIONS, ROOT } from '../../services/core/runtime.ts';
import * as validate from '../../services/core/validate.ts';
import { STOP_GRACE_MS } from '../supervisor.ts';

/** The repository: the unit's WorkingDirectory, where `npm start` runs. */
export const REPO_ROOT = ROOT;

/**
 * The first line of both files. Uninstall and a second install touch only
 * files that start with it, so `--name docker` can never overwrite or remove
 * the Docker Engine's own unit.
 */
export const MARKER = '# Written by "berth service:install".';

export interface UnitSpec {
  /** The unit's name without ".service" (validate.unitName). */
  name: string;
  /** The node binary that runs Berth: the one `berth service:install` runs on. */
  node: string;
  /** The environment file the unit reads (EnvironmentFile=). */
  envFile: string;
  /** Default: this repository. */
  root?: string;
}

/**
 * A systemd.unit(5) value: "%" starts a specifier, so a literal one is
 * doubled. Paths reach here through validate.hostPath (no control
 * characters, no backslash, nothing to trim), which is what makes the rest
 * of the value literal.
 */
const literal = (v: string) => v.replaceAll('%', '%%');

/** A double-quoted word of a unit file: backslashes and double quotes escaped, "%" doubled. */
const quoted = (v: string) => `"${literal(v.replaceAll('\\', '\\\\').replaceAll('"', '\\"'))}"`;

/**
 * One argument of an Exec*= line after the program (systemd.service(5),
 * "Command lines"): quoted, and "$" doubled, since "$NAME" there expands a
 * variable.
 */
export const execArg = (v: string): string => quoted(v.replaceAll('$', '$$$$'));

/**
 * The program of an Exec*= line: quoted, "$" as it is (systemd expands no
 * variable there). systemd refuses a program path with quotes in it
 * ("Executable name contains special characters"), so such a path is refused here.
 */
function execProgram(v: string, kind: string): string {
  if (/["']/.test(v)) {
    throw new BerthError('BERTH_E_INVALID_NAME', {
      kind,
      value: v,
      reason: 'systemd runs no program whose path has quotes in it',
    });
  }
  return quoted(v);
}

/** The unit file for `spec`, every setting with the reason it is there. */
export function renderUnit(spec: UnitSpec): string {
  const name = validate.unitName(spec.name);
  const root = validate.hostPath(spec.root ?? REPO_ROOT, 'repository path');
  const node = validate.hostPath(spec.node, 'node binary path');
  const envFile = validate.hostPath(spec.envFile, 'environment file path');
  // npm beside the node binary (nvm and tarball installs keep it there) for
  // infra/npm-deps.sh, then the system directories dockerd, redis-server and
  // mmdebstrap are in; systemd gives services no login shell's PATH.
  const searchPath = systemSearchPath(path.dirname(node));
  const stopSeconds = Math.ceil(STOP_GRACE_MS / 1000) + 25;
  return `${MARKER}
# Berth as a systemd service: "berth service:status --name ${name}" shows it,
# "berth service:uninstall --name ${name}" removes it. Its settings are in
# ${envFile}; after changing them, "systemctl restart ${name}.service".

[Unit]
Description=Berth, a self-hosted PaaS (git push to deploy)
# Berth talks to the Docker Engine from its first step, and ACME, git fetches
# and Debian's mirror need the network. Where docker.service does not exist
# (an engine elsewhere, DOCKER_HOST), Wants= asks for nothing.
Wants=docker.service network-online.target
After=docker.service network-online.target

[Service]
# Running means the node process was started (not merely forked): a missing
# node binary is a failed start, not a service that dies at once.
Type=exec
# Root, as npm start: Berth installs packages, may start dockerd and binds
# ports 80 and 443. Setting it also gives the service HOME (npm's cache).
User=root
WorkingDirectory=${literal(root)}
Environment=${quoted(`PATH=${searchPath}`)}
EnvironmentFile=${literal(envFile)}
SyslogIdentifier=${name}
# What npm start runs: the npm dependencies when package-lock.json changed
# (a git pull), then "berth start" in one process (compiled first when the
# sources changed, with npm start's Node.js options: IDLE_HEAP_OPTIONS), so that SIGTERM
# (stop) and SIGHUP (reload: infra/reload.ts) reach the supervisor itself, not a wrapper.
ExecStartPre=/bin/sh ${execArg(path.join(root, 'infra/npm-deps.sh'))}
ExecStart=${execProgram(node, 'node binary path')} ${IDLE_HEAP_OPTIONS.join(' ')} ${execArg(path.join(root, 'infra/run.mjs'))} start
ExecReload=/bin/kill -HUP $MAINPID
# The first start may run npm ci; the rest of the first start (packages, the
# stack image) happens in the running service, where no start timeout applies.
TimeoutStartSec=10min
# KillMode=process: systemd signals the supervisor alone, never the rest.
# - The supervisor stops Berth itself on SIGTERM, as on Ctrl-C: every service
#   drains, the router's primary tells its router processes to finish the
#   requests in flight (10 s, proxy/worker.ts), and it exits when all have.
# - The router must outlive a supervisor that dies (docs/design.md, "The
#   data plane stands alone"): when the supervisor crashes, Restart= starts
#   another, which adopts the router processes still serving. With
#   KillMode=mixed (or the default control-group), systemd would kill every
#   process left in the unit as soon as the supervisor is gone, crash or not:
#   the apps would go offline until the restart, which is what the design
#   avoids.
# - Redis and dockerd, when Berth starts them, live in this unit's cgroup but
#   must keep running after Berth stops, as they do after npm start
#   (infra/bootstrap/redis.ts); mixed would SIGKILL them on every stop or
#   restart, and control-group would SIGTERM Redis while the services still
#   write to it.
# Debian's docker.service sets KillMode=process for the same reason: its
# containers outlive a restart of dockerd.
KillMode=process
# The supervisor gives each service ${STOP_GRACE_MS / 1000} s before SIGKILL (infra/supervisor.ts);
# beyond this systemd SIGKILLs the supervisor.
TimeoutStopSec=${stopSeconds}s
Restart=always
RestartSec=5s
# Exit code 2 is a bad setting (BERTH_E_CONFIG and other usage errors):
# starting again cannot fix it; "systemctl status" shows the line that says why.
RestartPreventExitStatus=2
# Berth replaces a service or router process that dies, OOM-killed or not;
# systemd's default (stop) would stop the whole of Berth for one of them.
OOMPolicy=continue
# Each proxied connection holds two descriptors in a router process, and
# children inherit this. 1048576 is the kernel's default ceiling (fs.nr_open),
# and what Debian's docker.service sets.
LimitNOFILE=1048576

[Install]
WantedBy=multi-user.target
`;
}

/**
 * The contract's variables (docs/configuration.md: BERTH_*, and REDIS_URL
 * and DOCKER_HOST, which name the Redis and the engine Berth uses) that are
 * set in `env`, in the contract's order. Unset and empty ones (the default)
 * are left out, and so is any other variable, BERTH_ or not: it is not
 * Berth's configuration (BERTH_TEST_RUN, a shell's own).
 */
export function configVariables(env: Env): [ConfigVar, string][] {
  return (Object.keys(DEFAULTS) as ConfigVar[]).flatMap((name): [ConfigVar, string][] => {
    const value = env[name];
    return value === undefined || value === '' ? [] : [[name, value]];
  });
}

/**
 * One EnvironmentFile= value: in double quotes every character stands for
 * itself (newlines too), except the four systemd unescapes there ("\", '"',
 * "`", "$"; env-file.c, SHELL_NEED_ESCAPE), which get a backslash. systemd
 * expands no variables in this file.
 */
export function envFileValue(v: string): string {
  return `"${v.replace(/[\\"`$]/g, (c) => `\\${c}`)}"`;
}

/** The environment file: mode 0600, since BERTH_* values may be secrets. */
export function renderEnvFile(name: string, vars: readonly (readonly [string, string])[]): string {
  const lines = [
    MARKER,
    `# The settings of ${name}.service (docs/configuration.md), read by systemd, not a shell.`,
    `# Change them here, then: systemctl restart ${name}.service`,
    ...vars.map(([k, v]) => `${k}=${envFileValue(v)}`),
  ];
  return `${lines.join('\n')}\n`;
}
