// Procfile, Heroku's format: one `type: command` per line, the command run
// with `bash -c` in the app's directory. Blank lines and `#` comments are
// skipped (as Dokku does). Process type names become parts of container
// names and labels, so they are held to what Dokku allows: letters, digits,
// `-` and `_`, starting with a letter or digit, at most 63 characters.
//
// `release` is not a long-running process: the deployer runs it once before
// a rollout; it is kept here like any other type.
import { BerthError } from '../../core/errors.ts';
import * as validate from '../../core/validate.ts';

export const PROCFILE = 'Procfile';

/** Process type → command, in the order of the file. */
export type ProcessTypes = Record<string, string>;

const LINE = /^([^:\s]+)\s*:\s*(.*)$/;
const MAX_COMMAND = 4096;

const bad = (file: string, line: number, reason: string) =>
  new BerthError('BERTH_E_BUILD_FAILED', { where: `${file}:${line}`, reason });

/** The process types of a Procfile; BERTH_E_BUILD_FAILED naming the line of the first bad one. */
export function parseProcfile(text: string, file = PROCFILE): ProcessTypes {
  const types: ProcessTypes = {};
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    const n = i + 1;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) {
      throw bad(file, n, 'not a process line; write `type: command`, such as `web: npm start`');
    }
    const [, type = '', command = ''] = m;
    try {
      validate.processType(type);
    } catch {
      throw bad(
        file,
        n,
        `"${type.slice(0, 70)}" is not a process type name (lower-case letters, digits, - and _, starting with a letter, up to 63)`,
      );
    }
    if (command === '') throw bad(file, n, `process type ${type} has no command`);
    if (command.length > MAX_COMMAND) {
      throw bad(file, n, `the command of ${type} is longer than ${MAX_COMMAND} characters`);
    }
    if (command.includes('\0')) throw bad(file, n, `the command of ${type} contains a NUL byte`);
    if (Object.hasOwn(types, type)) throw bad(file, n, `process type ${type} is defined twice`);
    types[type] = command;
  }
  return types;
}
