import { readFileSync } from 'node:fs';
import { shipped } from './runtime.ts';

/** Berth's version, from package.json (read once). */
export const VERSION: string = (
  JSON.parse(readFileSync(shipped('package.json'), 'utf8')) as {
    version: string;
  }
).version;
