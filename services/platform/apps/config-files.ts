// Config vars as files, in the formats Dokku's config:export writes and
// config:import reads: envfile (godotenv's KEY="value"), exports, shell,
// docker-args, json. Import is all or nothing: every line is parsed and every
// key checked before anything is stored, and a line that is not KEY=VALUE
// refuses the whole file, naming the line (never a value: values are secrets).
import { BerthError } from '../../core/errors.ts';
import type { ConfigVars } from '../../core/store/index.ts';
import * as validate from '../../core/validate.ts';

export const EXPORT_FORMATS = ['exports', 'envfile', 'shell', 'docker-args', 'json'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];
export const IMPORT_FORMATS = ['envfile', 'json'] as const;

const usage = (reason: string) => new BerthError('BERTH_E_USAGE', { reason });

/** 'value' for a POSIX shell, ' written as '\'' (Dokku's singleQuoteEscape). */
const single = (v: string) => `'${v.replaceAll("'", `'\\''`)}'`;

/** godotenv's double-quote escaping, which its parser (and Berth's) reverses. */
const double = (v: string) =>
  `"${v.replace(/[\\\n\r"!$`]/g, (c) => ({ '\n': '\\n', '\r': '\\r' })[c] ?? `\\${c}`)}"`;

export function exportConfig(vars: ConfigVars, format: string): string {
  const keys = Object.keys(vars).sort();
  const pairs = (prefix: string, sep: string) =>
    keys.map((k) => `${prefix}${k}=${single(vars[k] ?? '')}`).join(sep);
  switch (format) {
    case 'exports':
      return pairs('export ', '\n');
    case 'shell':
      return pairs('', ' ');
    case 'docker-args':
      return pairs('--env=', ' ');
    case 'envfile':
      // godotenv writes integers bare, everything else quoted.
      return keys
        .map((k) => {
          const v = vars[k] ?? '';
          return `${k}=${/^-?\d+$/.test(v) ? v : double(v)}`;
        })
        .join('\n');
    case 'json':
      return JSON.stringify(Object.fromEntries(keys.map((k) => [k, vars[k]])));
    default:
      throw usage(`--format must be one of ${EXPORT_FORMATS.join(', ')}`);
  }
}

/** An envfile value: "double" (escapes), 'single' (as is) or bare (up to a # comment). */
function envValue(raw: string, line: number): string {
  const s = raw.trim();
  if (s.startsWith('"')) {
    let out = '';
    for (let i = 1; i < s.length; i++) {
      const c = s[i] as string;
      if (c === '"') {
        if (!/^\s*(#.*)?$/.test(s.slice(i + 1)))
          throw usage(`line ${line}: text after the closing "`);
        return out;
      }
      if (c === '\\' && i + 1 < s.length) {
        const n = s[++i] as string;
        out += n === 'n' ? '\n' : n === 'r' ? '\r' : n;
      } else out += c;
    }
    throw usage(`line ${line}: a " is not closed`);
  }
  if (s.startsWith("'")) {
    const end = s.indexOf("'", 1);
    if (end === -1) throw usage(`line ${line}: a ' is not closed`);
    if (!/^\s*(#.*)?$/.test(s.slice(end + 1)))
      throw usage(`line ${line}: text after the closing '`);
    return s.slice(1, end);
  }
  return s.replace(/\s+#.*$/, '');
}

/** Parses an import; BERTH_E_USAGE naming the first bad line, nothing returned. */
export function parseConfigFile(text: string, format: string): ConfigVars {
  const vars: ConfigVars = {};
  if (format === 'json') {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      throw usage('the input is not JSON (--format json wants {"KEY": "value", ...})');
    }
    if (data === null || typeof data !== 'object' || Array.isArray(data))
      throw usage('the JSON must be an object of KEY: "value"');
    for (const [k, v] of Object.entries(data)) {
      const key = validate.envKey(k);
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean')
        throw usage(`the value of ${key} must be a string, number or boolean`);
      vars[key] = String(v);
    }
  } else if (format === 'envfile') {
    text.split(/\r?\n/).forEach((raw, i) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      const m = /^(?:export\s+)?([^=\s]+)\s*=(.*)$/.exec(line);
      if (!m) throw usage(`line ${i + 1} is not KEY=VALUE`);
      vars[validate.envKey(m[1] ?? '')] = envValue(m[2] ?? '', i + 1);
    });
  } else {
    throw usage(`--format must be one of ${IMPORT_FORMATS.join(', ')}`);
  }
  if (Object.keys(vars).length === 0) throw usage('No config vars to set');
  return vars;
}
