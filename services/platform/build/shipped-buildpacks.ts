// The buildpacks Berth ships: one folder each under buildpacks/ with the
// Heroku buildpack API (bin/detect, bin/compile, bin/release). Berth builds
// offline, so these are the only buildpacks an app can use.
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { shipped } from '../../core/runtime.ts';

export const BUILDPACKS_DIR = shipped('buildpacks');
/**
 * The order buildpacks are asked in when an app pins none, as Heroku's
 * default list (Ruby before Node.js: a Rails app has a package.json too; PHP
 * after it, as on Heroku), then Berth's static and Procfile buildpacks.
 */
export const DEFAULT_BUILDPACKS = [
  'ruby',
  'node',
  'python',
  'php',
  'go',
  'static',
  'procfile',
] as const;

/** The buildpacks shipped (folders with a bin/detect), the default ones first in their order. */
export async function shippedBuildpacks(dir: string = BUILDPACKS_DIR): Promise<string[]> {
  const names: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const detect = await stat(path.join(dir, entry.name, 'bin', 'detect')).catch(() => undefined);
    if (detect?.isFile()) names.push(entry.name);
  }
  const rank = (n: string) => {
    const i = (DEFAULT_BUILDPACKS as readonly string[]).indexOf(n);
    return i === -1 ? DEFAULT_BUILDPACKS.length : i;
  };
  return names.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}
