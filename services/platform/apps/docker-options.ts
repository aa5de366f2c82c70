// docker-options:add|remove|clear — Docker options of an app's containers,
// set by admins only, parsed (core/docker-options.ts) into Docker API fields
// from an allow-list; what would give the host away is refused in one line.
import path from 'node:path';
import {
  type BindPolicy,
  DOCKER_OPTION_PHASES,
  type DockerOptionPhase,
  noSymlinks,
  parseDockerOptions,
} from '../../core/docker-options.ts';
import { BerthError } from '../../core/errors.ts';
import type { App, Store } from '../../core/store/index.ts';

/** The bind policy of a data directory and BERTH_STORAGE_ALLOWED_PATHS. */
export const bindPolicy = (dataDir: string, allowed: readonly string[]): BindPolicy => ({
  storageDir: path.join(dataDir, 'storage'),
  allowed,
});

/**
 * Dokku's PHASE argument: comma-separated, of deploy and run. build is
 * refused: builds run in Berth's own confined build container.
 */
export function parsePhases(arg: string): DockerOptionPhase[] {
  const phases = [...new Set(arg.split(','))];
  for (const p of phases) {
    if (p === 'build') {
      throw new BerthError('BERTH_E_USAGE', {
        reason:
          "phase build: builds run in Berth's confined build container, which takes no options; use deploy or run",
      });
    }
    if (!(DOCKER_OPTION_PHASES as readonly string[]).includes(p)) {
      throw new BerthError('BERTH_E_USAGE', {
        reason: `phase ${JSON.stringify(p.slice(0, 40))} is not one of ${DOCKER_OPTION_PHASES.join(', ')} (comma-separated)`,
      });
    }
  }
  return phases as DockerOptionPhase[];
}

/** Adds the options to each phase (already there: kept once); returns them as stored. */
export async function addDockerOptions(
  store: Store,
  app: App,
  phases: readonly DockerOptionPhase[],
  text: string,
  policy: BindPolicy,
): Promise<string[]> {
  const options = parseDockerOptions(text, policy);
  for (const o of options) {
    if (o.startsWith('--volume=')) noSymlinks(o, o.slice('--volume='.length).split(':')[0] ?? '');
  }
  const { dockerOptions } = await store.apps.deploySettings(app.name);
  const next = { deploy: [...dockerOptions.deploy], run: [...dockerOptions.run] };
  for (const p of phases) next[p] = [...new Set([...next[p], ...options])];
  await store.apps.setDeploySetting(app.name, 'dockerOptions', next);
  return options;
}

/** Removes the options (as given or as stored) from each phase; returns how many went. */
export async function removeDockerOptions(
  store: Store,
  app: App,
  phases: readonly DockerOptionPhase[],
  text: string,
): Promise<number> {
  // Parsed without the path allow-list: removing what an operator no longer allows must work.
  const options = new Set(parseDockerOptions(text, undefined));
  const { dockerOptions } = await store.apps.deploySettings(app.name);
  const next = { deploy: [...dockerOptions.deploy], run: [...dockerOptions.run] };
  let removed = 0;
  for (const p of phases) {
    const kept = next[p].filter((o) => !options.has(o));
    removed += next[p].length - kept.length;
    next[p] = kept;
  }
  await store.apps.setDeploySetting(app.name, 'dockerOptions', next);
  return removed;
}

/** Clears the options of the phases (all: both). */
export async function clearDockerOptions(
  store: Store,
  app: App,
  phases: readonly DockerOptionPhase[],
): Promise<void> {
  const { dockerOptions } = await store.apps.deploySettings(app.name);
  const next = { deploy: [...dockerOptions.deploy], run: [...dockerOptions.run] };
  for (const p of phases) next[p] = [];
  await store.apps.setDeploySetting(app.name, 'dockerOptions', next);
}
