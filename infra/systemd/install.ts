// `berth service:install`, `service:uninstall` and `service:status`: Berth's
// unit and environment file in a unit directory, and what systemd makes of
// them. Admin commands on the server itself (root), never over SSH. Every
// check comes before the first write, so bad input changes nothing; only
// files that start with MARKER are replaced or removed.
import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Env } from '../../services/core/config.ts';
import { BerthError } from '../../services/core/errors.ts';
import * as validate from '../../services/core/validate.ts';
import { notRunning, Systemctl, type SystemdState, systemdState } from './systemctl.ts';
import { configVariables, MARKER, renderEnvFile, renderUnit } from './unit.ts';

export const DEFAULT_UNIT_DIR = '/etc/systemd/system';
export const DEFAULT_UNIT_NAME = 'berth';

export interface ServiceTarget {
  /** --name: the unit's name without ".service"; default berth. */
  name?: string;
  /** --unit-dir: default /etc/systemd/system. */
  unitDir?: string;
  /** Where to find systemctl. */
  searchPath: string;
}

interface Place {
  name: string;
  unit: string;
  dir: string;
  unitFile: string;
  envFile: string;
}

/** The validated name and directory, and the two files' paths. */
function placeOf(t: ServiceTarget): Place {
  const name = validate.unitName(t.name ?? DEFAULT_UNIT_NAME);
  const dir = validate.hostPath(t.unitDir ?? DEFAULT_UNIT_DIR, 'unit directory');
  return {
    name,
    unit: `${name}.service`,
    dir,
    unitFile: path.join(dir, `${name}.service`),
    // Beside the unit, so that one directory holds all Berth wrote; systemd
    // loads only files named like units from there, and ".env" is no unit type.
    envFile: path.join(dir, `${name}.env`),
  };
}

/**
 * The directory must exist; the default may not, on a machine without
 * systemd: install then makes it, and for the others nothing is installed.
 */
async function checkDir(place: Place, createDefault: boolean): Promise<'there' | 'missing'> {
  const s = await stat(place.dir).catch(() => undefined);
  if (s?.isDirectory()) return 'there';
  if (s === undefined && place.dir === DEFAULT_UNIT_DIR) {
    if (!createDefault) return 'missing';
    await mkdir(place.dir, { recursive: true, mode: 0o755 }).catch(writeFailed(place.dir));
    return 'there';
  }
  throw new BerthError('BERTH_E_INVALID_NAME', {
    kind: 'unit directory',
    value: place.dir,
    reason: s === undefined ? 'no such directory' : 'not a directory',
  });
}

type Found = { state: 'none' } | { state: 'ours'; text: string } | { state: 'foreign' };

async function look(file: string): Promise<Found> {
  const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw e;
  });
  if (text === undefined) return { state: 'none' };
  return text.startsWith(`${MARKER}\n`) ? { state: 'ours', text } : { state: 'foreign' };
}

async function refuseForeign(file: string): Promise<Found> {
  const found = await look(file);
  if (found.state === 'foreign') throw new BerthError('BERTH_E_UNIT_FOREIGN', { path: file });
  return found;
}

const writeFailed = (file: string) => (e: NodeJS.ErrnoException) => {
  if (e.code === 'EACCES' || e.code === 'EPERM') {
    throw new BerthError('BERTH_E_NOT_ROOT', { action: `writing ${file}` }, { cause: e });
  }
  throw e;
};

/**
 * Written beside and renamed over, so the file is never seen half-written,
 * and created with its mode: the environment file is never readable by
 * others, not even for a moment.
 */
async function writeAtomic(file: string, text: string, mode: number): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    await writeFile(tmp, text, { mode, flag: 'wx' });
    // The umask may have taken bits away; the mode is exact either way.
    await chmod(tmp, mode);
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    writeFailed(file)(e as NodeJS.ErrnoException);
  }
}

export interface InstallOptions extends ServiceTarget {
  /** The environment whose contract variables the environment file keeps. */
  env: Env;
  /** The node binary the unit runs Berth with. */
  node: string;
}

export interface Outcome {
  /** What was done, for stdout. */
  done: string[];
  /** What was not, and the command to run, for stderr. */
  warnings: string[];
}

export async function installService(o: InstallOptions): Promise<Outcome> {
  const place = placeOf(o);
  const vars = configVariables(o.env);
  // Rendered before anything is written: a path systemd could not read back is refused here.
  const unitText = renderUnit({ name: place.name, node: o.node, envFile: place.envFile });
  const envText = renderEnvFile(place.name, vars);
  await checkDir(place, true);
  await refuseForeign(place.unitFile);
  await refuseForeign(place.envFile);

  await writeAtomic(place.envFile, envText, 0o600);
  await writeAtomic(place.unitFile, unitText, 0o644);
  const names = vars.map(([k]) => k).join(', ');
  const out: Outcome = {
    done: [
      `wrote ${place.unitFile}`,
      `wrote ${place.envFile} (mode 0600): ${names || "no settings set, so Berth's defaults"}`,
    ],
    warnings: [],
  };
  await enable(place, o.searchPath, out);
  return out;
}

/** Makes systemd start the unit at boot, where it can; says what to run where it cannot. */
async function enable(place: Place, searchPath: string, out: Outcome) {
  const cmd = `systemctl enable ${place.unit}`;
  const systemctl = await Systemctl.find(searchPath);
  const systemd = await systemdState();
  if (systemctl === undefined) {
    out.warnings.push(
      `systemctl is not installed here: ${place.unit} is not enabled, so Berth starts at boot only once "${cmd}" works; run it once systemd is installed and running`,
    );
    return;
  }
  if (systemd.running) {
    const reload = await systemctl.run(['daemon-reload']);
    if (!reload.ok) out.warnings.push(`systemctl daemon-reload failed: ${reload.said}`);
  }
  const enabled = await systemctl.run(['enable', place.unit]);
  if (!enabled.ok) {
    out.warnings.push(
      `${systemd.running ? '' : `${notRunning(systemd)}, and `}"${cmd}" failed (${enabled.said}): the unit is written but not enabled, so Berth starts at boot only once "${cmd}" works; run it on a machine booted with systemd, with the unit in a directory systemd reads`,
    );
    return;
  }
  if (!systemd.running) {
    out.done.push(`enabled ${place.unit} in the unit files`);
    out.warnings.push(
      `${notRunning(systemd)}: nothing was started, and Berth starts at boot only on a machine booted with systemd ("${cmd}" worked here; run it again there if the unit files are copied)`,
    );
    return;
  }
  out.done.push(`enabled ${place.unit}: Berth starts at boot`);
  const active = await systemctl.run(['is-active', place.unit]);
  if (active.state === 'active') {
    out.done.push(`it is running: "systemctl restart ${place.unit}" applies what was written`);
  } else {
    out.done.push(
      `start it now with "systemctl start ${place.unit}" (stop a Berth running in the foreground first: both would want the same ports)`,
    );
  }
}

/** systemctl is-enabled states that `systemctl disable` undoes. */
const ENABLED = new Set([
  'enabled',
  'enabled-runtime',
  'linked',
  'linked-runtime',
  'alias',
  'indirect',
]);
/** systemctl is-active states in which the unit has processes to stop. */
const ACTIVE = new Set(['active', 'activating', 'deactivating', 'reloading', 'refreshing']);

export async function uninstallService(t: ServiceTarget): Promise<Outcome> {
  const place = placeOf(t);
  await checkDir(place, false);
  const [unit, env] = [await look(place.unitFile), await look(place.envFile)];
  if (unit.state === 'none' && env.state === 'none') {
    throw new BerthError('BERTH_E_UNIT_NOT_INSTALLED', { unit: place.unit, dir: place.dir });
  }
  for (const [file, found] of [
    [place.unitFile, unit],
    [place.envFile, env],
  ] as const) {
    if (found.state === 'foreign') throw new BerthError('BERTH_E_UNIT_FOREIGN', { path: file });
  }
  const out: Outcome = { done: [], warnings: [] };
  const systemctl = await Systemctl.find(t.searchPath);
  const systemd = await systemdState();
  const must = async (args: string[]) => {
    const r = await systemctl?.run(args);
    if (r && !r.ok) {
      throw new BerthError('BERTH_E_SYSTEMCTL', {
        args: args.join(' '),
        reason: r.said,
        unit: place.unit,
      });
    }
  };
  // is-enabled reads the unit files, with or without a running systemd.
  if (systemctl && ENABLED.has((await systemctl.run(['is-enabled', place.unit])).state)) {
    await must(['disable', place.unit]);
    out.done.push(`disabled ${place.unit}`);
  }
  if (systemctl && systemd.running) {
    if (ACTIVE.has((await systemctl.run(['is-active', place.unit])).state)) {
      // Berth stops as on Ctrl-C, the router too (KillMode=process: the supervisor does it).
      await must(['stop', place.unit]);
      out.done.push(`stopped ${place.unit}`);
    }
  }
  for (const [file, found] of [
    [place.unitFile, unit],
    [place.envFile, env],
  ] as const) {
    if (found.state === 'none') continue;
    await rm(file).catch(writeFailed(file));
    out.done.push(`removed ${file}`);
  }
  if (systemctl && systemd.running) {
    const reload = await systemctl.run(['daemon-reload']);
    if (!reload.ok) out.warnings.push(`systemctl daemon-reload failed: ${reload.said}`);
  }
  return out;
}

export interface ServiceStatus {
  unit: string;
  unitFile: string;
  envFile: string;
  /** The unit file exists. */
  installed: boolean;
  /** It was written by service:install (false: a file of someone else's has this name). */
  writtenByBerth: boolean;
  envFileInstalled: boolean;
  /** systemctl is-enabled, or why it cannot be known. */
  enabled: string;
  /** systemctl is-active, or why it cannot be known. */
  active: string;
  systemd: SystemdState;
}

export async function serviceStatus(t: ServiceTarget): Promise<ServiceStatus> {
  const place = placeOf(t);
  await checkDir(place, false);
  const [unit, env] = [await look(place.unitFile), await look(place.envFile)];
  const systemctl = await Systemctl.find(t.searchPath);
  const systemd = await systemdState();
  const ask = async (verb: 'is-enabled' | 'is-active'): Promise<string> => {
    if (systemctl === undefined) return 'unknown: systemctl is not installed';
    if (verb === 'is-active' && !systemd.running) return `unknown: ${notRunning(systemd)}`;
    const r = await systemctl.run([verb, place.unit]);
    // is-enabled and is-active exit non-zero for "disabled" and "inactive" too.
    return r.state !== '' ? r.state : `unknown: ${r.said}`;
  };
  return {
    unit: place.unit,
    unitFile: place.unitFile,
    envFile: place.envFile,
    installed: unit.state !== 'none',
    writtenByBerth: unit.state === 'ours',
    envFileInstalled: env.state !== 'none',
    enabled: await ask('is-enabled'),
    active: await ask('is-active'),
    systemd,
  };
}
