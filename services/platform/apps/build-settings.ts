// How an app's pushes are built, as Dokku's builder:*, builder-dockerfile:*
// and buildpacks:* commands set it. Every value is checked here (the same
// validating function for its kind as everywhere) before it is stored; the
// builder reads the settings at the start of each build (services/platform/build/detect.ts).

import { BerthError } from '../../core/errors.ts';
import {
  type App,
  BUILDERS,
  type Builder,
  type BuildSettings,
  type Store,
} from '../../core/store/index.ts';
import * as validate from '../../core/validate.ts';
import { buildpackAlias } from '../build/buildpack-aliases.ts';
import { shippedBuildpacks } from '../build/shipped-buildpacks.ts';

const usage = (reason: string) => new BerthError('BERTH_E_USAGE', { reason });

/**
 * builder:set APP|--global selected [dockerfile|buildpacks|image]; no value:
 * detect at each build (an app: the --global choice, if any). No app: the
 * choice of every app that makes none (the dispatcher checked for an admin).
 */
export async function setBuilder(
  store: Store,
  app: App | undefined,
  key: string,
  value: string | undefined,
) {
  if (key !== 'selected') {
    throw new BerthError('BERTH_E_UNKNOWN_SETTING', {
      command: 'builder:set',
      key: key.slice(0, 40),
      settings: 'selected',
    });
  }
  const given = value === undefined || value === '' ? null : value;
  if (given !== null && !(BUILDERS as readonly string[]).includes(given)) {
    throw usage(
      `unknown builder "${given.slice(0, 40)}"; use ${BUILDERS.join(', ')}, or nothing to detect it`,
    );
  }
  if (app === undefined) await store.platform.set('builder', given as Builder | null);
  else await store.apps.setBuildSetting(app.name, 'builder', given as Builder | null);
}

export const DOCKERFILE_SETTINGS = ['dockerfile-path', 'build-args'] as const;

/**
 * builder-dockerfile:set APP dockerfile-path [PATH] | build-args [KEY...]:
 * no value resets. Build args name config vars; their values are read at
 * each build, so a secret is never copied into the settings.
 */
export async function setDockerfileSetting(
  store: Store,
  app: App | undefined,
  key: string,
  values: readonly string[],
): Promise<void> {
  if (key === 'dockerfile-path') {
    if (values.length > 1) throw usage('dockerfile-path takes one path');
    const file =
      values[0] === undefined || values[0] === '' ? null : validate.repoFilePath(values[0]);
    if (app === undefined) await store.platform.set('dockerfilePath', file);
    else await store.apps.setBuildSetting(app.name, 'dockerfilePath', file);
    return;
  }
  if (key === 'build-args' && app !== undefined) {
    const keys = [...new Set(values.flatMap((v) => v.split(',')).filter((k) => k !== ''))];
    await store.apps.setBuildSetting(app.name, 'buildArgs', keys.map(validate.envKey));
    return;
  }
  throw new BerthError('BERTH_E_UNKNOWN_SETTING', {
    command: app === undefined ? 'builder-dockerfile:set --global' : 'builder-dockerfile:set',
    key: key.slice(0, 40),
    settings: app === undefined ? 'dockerfile-path' : DOCKERFILE_SETTINGS.join(', '),
  });
}

/**
 * A buildpack name that Berth ships (or Heroku's name for one), or a
 * third-party buildpack's git URL that BERTH_BUILDPACK_URLS (`allowedUrls`)
 * lets in, in its canonical form; BERTH_E_USAGE or BERTH_E_INVALID_NAME otherwise.
 */
async function shipped(name: string, allowedUrls: readonly string[]): Promise<string> {
  // heroku/nodejs and the like: the buildpack of Berth's that does that job.
  const alias = buildpackAlias(name);
  if (alias === undefined && validate.looksLikeUrl(name)) {
    return validate.buildpackUrlText(validate.buildpackUrl(name, allowedUrls));
  }
  const all = await shippedBuildpacks();
  const checked = alias ?? validate.buildpackName(name);
  if (!all.includes(checked)) {
    throw usage(
      `there is no buildpack ${checked}; Berth ships ${all.join(', ')} and takes Heroku's names for them (heroku/nodejs, heroku/python), or a buildpack's git URL (https://...#v1)`,
    );
  }
  return checked;
}

/** buildpacks:set APP NAME...: pins these, in this order. */
export async function setBuildpacks(
  store: Store,
  app: App,
  names: readonly string[],
  allowedUrls: readonly string[] = [],
) {
  const list: string[] = [];
  for (const n of names) {
    const name = await shipped(n, allowedUrls);
    if (list.includes(name)) throw usage(`${name} is listed twice`);
    list.push(name);
  }
  await store.apps.setBuildSetting(app.name, 'buildpacks', list);
  return list;
}

/** buildpacks:add APP NAME [--index N] (1-based; default: last). */
export async function addBuildpack(
  store: Store,
  app: App,
  name: string,
  index?: number,
  allowedUrls: readonly string[] = [],
) {
  const current = (await store.apps.buildSettings(app.name)).buildpacks;
  const checked = await shipped(name, allowedUrls);
  if (current.includes(checked)) throw usage(`${checked} is pinned already`);
  const at =
    index === undefined ? current.length : Math.min(Math.max(index - 1, 0), current.length);
  const list = [...current.slice(0, at), checked, ...current.slice(at)];
  await store.apps.setBuildSetting(app.name, 'buildpacks', list);
  return list;
}

/** buildpacks:remove APP NAME. */
export async function removeBuildpack(store: Store, app: App, name: string) {
  const current = (await store.apps.buildSettings(app.name)).buildpacks;
  // A URL as it was added, or in its canonical form.
  const checked = validate.looksLikeUrl(name)
    ? validate.buildpackUrlText(validate.buildpackUrl(name, ['https://', 'http://', 'file:///']))
    : validate.buildpackName(name);
  if (!current.includes(checked)) throw usage(`${checked} is not pinned for ${app.name}`);
  const list = current.filter((n) => n !== checked);
  await store.apps.setBuildSetting(app.name, 'buildpacks', list);
  return list;
}

/** buildpacks:clear APP: back to detection. */
export async function clearBuildpacks(store: Store, app: App) {
  await store.apps.setBuildSetting(app.name, 'buildpacks', []);
}

export interface BuilderReport {
  /** null: detected at each build. */
  selected: Builder | null;
  /** builder:set --global selected; null: none. */
  globalSelected: Builder | null;
  /** The path builds use: the app's, else --global's, else Dockerfile. */
  dockerfilePath: string;
  /** builder-dockerfile:set APP dockerfile-path; null: none of its own. */
  ownDockerfilePath: string | null;
  /** builder-dockerfile:set --global dockerfile-path; null: none. */
  globalDockerfilePath: string | null;
  buildArgs: string[];
  /** Pinned with buildpacks:set; empty: detected. */
  buildpacks: string[];
  /** What the latest successful build chose and why. */
  detected: BuildSettings['detected'];
}

export async function builderReport(store: Store, app: App): Promise<BuilderReport> {
  const s = await store.apps.buildSettings(app.name);
  const global = await store.platform.get();
  return {
    selected: s.builder,
    globalSelected: global.builder,
    dockerfilePath: s.dockerfilePath ?? global.dockerfilePath ?? 'Dockerfile',
    ownDockerfilePath: s.dockerfilePath,
    globalDockerfilePath: global.dockerfilePath,
    buildArgs: s.buildArgs,
    buildpacks: s.buildpacks,
    detected: s.detected,
  };
}
