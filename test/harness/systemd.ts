// Reading a systemd unit the way systemd does, for tests on machines where
// systemd is not PID 1 and cannot run the unit itself: the unit file's
// sections, an Exec*= line as an argument array, and the environment the
// service gets (Environment=, EnvironmentFile=, User=). Only what
// `berth service:install` writes is understood; anything else throws, so a
// change to the unit that this reading would get wrong fails the test
// instead of passing it by accident. systemd's own parser of environment
// files checks this one (envFileAgrees).
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';

export type Unit = Map<string, [key: string, value: string][]>;

/** systemd.syntax(7): sections, Key=Value lines, comments, continuation lines. */
export function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: [string, string][] | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = (lines[i] ?? '').trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) line = `${line.slice(0, -1)} ${lines[++i]}`;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      section = [];
      unit.set(header[1] ?? '', section);
      continue;
    }
    const eq = line.indexOf('=');
    if (section === undefined || eq <= 0) throw new Error(`not a unit line: ${line}`);
    section.push([line.slice(0, eq).trim(), line.slice(eq + 1).trim()]);
  }
  return unit;
}

/** Every value of `key` in `section`, in order. */
export function values(unit: Unit, section: string, key: string): string[] {
  return (unit.get(section) ?? []).filter(([k]) => k === key).map(([, v]) => v);
}

/** The one value of `key`; throws when there is none or several. */
export function value(unit: Unit, section: string, key: string): string {
  const all = values(unit, section, key);
  if (all.length !== 1) throw new Error(`[${section}] ${key}: ${all.length} values`);
  return all[0] as string;
}

/** systemd.unit(5) specifiers: only "%%" is written. */
function specifiers(v: string): string {
  return v.replace(/%(.)/g, (whole, c: string) => {
    if (c === '%') return '%';
    throw new Error(`specifier ${whole} in ${v}`);
  });
}

/**
 * Words as systemd splits a command line or an Environment= value: by
 * whitespace, with double- or single-quoted parts, backslash escaping the
 * next character ("\\" and '\"'; C escapes such as \n are not written).
 */
function words(v: string): string[] {
  const out: string[] = [];
  let word: string | undefined;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < v.length; i++) {
    const c = v[i] as string;
    if (c === '\\') {
      const next = v[++i];
      if (next !== '\\' && next !== '"' && next !== "'")
        throw new Error(`escape \\${next} in ${v}`);
      word = (word ?? '') + next;
    } else if (quote !== undefined) {
      if (c === quote) quote = undefined;
      else word = (word ?? '') + c;
    } else if (c === '"' || c === "'") {
      quote = c;
      word ??= '';
    } else if (/\s/.test(c)) {
      if (word !== undefined) out.push(word);
      word = undefined;
    } else word = (word ?? '') + c;
  }
  if (quote !== undefined) throw new Error(`unterminated quote in ${v}`);
  if (word !== undefined) out.push(word);
  return out;
}

/**
 * An Exec*= value as the argument array systemd runs (systemd.service(5),
 * "Command lines"): specifiers, then words, then, in the arguments after
 * the program, "$$" for "$" (a variable, $NAME, is not written, so it
 * throws). The program itself is taken as it is.
 */
export function execArgv(v: string): [file: string, ...args: string[]] {
  if (/^[-@:+!]/.test(v)) throw new Error(`prefix in ${v}`);
  const [file, ...args] = words(specifiers(v));
  if (file === undefined) throw new Error('empty command line');
  return [
    file,
    ...args.map((w) =>
      w.replace(/\$(.?)/g, (whole, c: string) => {
        if (c === '$') return '$';
        throw new Error(`variable ${whole} in ${v}`);
      }),
    ),
  ];
}

/**
 * An environment file as systemd reads it (EnvironmentFile=; the state
 * machine of src/basic/env-file.c): KEY=VALUE lines and "#" or ";" comment
 * lines. A value is bare (leading and trailing whitespace dropped, a
 * backslash takes the next character, quotes are plain characters), or
 * starts with a quote: single quotes keep everything; in double quotes a
 * backslash escapes only \ " ` and $ (before anything else it stays).
 * Quoted parts may hold newlines and be followed by more parts. A backslash
 * before a newline joins lines. No variable is expanded.
 */
export function parseEnvFile(text: string): Map<string, string> {
  const env = new Map<string, string>();
  type State =
    | 'preKey'
    | 'key'
    | 'preValue'
    | 'value'
    | 'valueEscape'
    | 'single'
    | 'double'
    | 'doubleEscape'
    | 'comment';
  let state: State = 'preKey';
  let key = '';
  let v = '';
  /** Where trailing whitespace of a bare value starts, if it has some. */
  let trailing: number | undefined;
  const isNewline = (c: string) => c === '\n' || c === '\r';
  const isSpace = (c: string) => c === ' ' || c === '\t' || isNewline(c);
  const push = (chomp: boolean) => {
    env.set(key.trimEnd(), chomp && trailing !== undefined ? v.slice(0, trailing) : v);
    key = '';
    v = '';
  };
  for (const c of text) {
    switch (state) {
      case 'preKey':
        if (c === '#' || c === ';') state = 'comment';
        else if (!isSpace(c)) {
          state = 'key';
          key = c;
        }
        break;
      case 'key':
        if (isNewline(c)) state = 'preKey';
        else if (c === '=') state = 'preValue';
        else key += c;
        break;
      case 'preValue':
        if (isNewline(c)) {
          push(false);
          state = 'preKey';
        } else if (c === "'") state = 'single';
        else if (c === '"') state = 'double';
        else if (c === '\\') state = 'valueEscape';
        else if (!isSpace(c)) {
          state = 'value';
          trailing = undefined;
          v += c;
        }
        break;
      case 'value':
        if (isNewline(c)) {
          push(true);
          state = 'preKey';
        } else if (c === '\\') {
          state = 'valueEscape';
          trailing = undefined;
        } else {
          if (!isSpace(c)) trailing = undefined;
          else trailing ??= v.length;
          v += c;
        }
        break;
      case 'valueEscape':
        state = 'value';
        if (!isNewline(c)) v += c;
        break;
      case 'single':
        if (c === "'") state = 'preValue';
        else v += c;
        break;
      case 'double':
        if (c === '"') state = 'preValue';
        else if (c === '\\') state = 'doubleEscape';
        else v += c;
        break;
      case 'doubleEscape':
        state = 'double';
        if ('\\"`$'.includes(c)) v += c;
        else if (c !== '\n') v += `\\${c}`;
        break;
      case 'comment':
        if (isNewline(c)) state = 'preKey';
        break;
    }
  }
  if (state !== 'preKey' && state !== 'key' && state !== 'comment') push(state === 'value');
  return env;
}

/**
 * Whether systemd's own parser of environment files reads `key` in `file` as
 * `expected`: os-release is parsed by the same code as EnvironmentFile=
 * (parse_env_file), SYSTEMD_OS_RELEASE points systemd at another file, and
 * ConditionOSRelease= compares a key's value as a string (systemd ≥ 249).
 */
export function envFileAgrees(file: string, key: string, expected: string): boolean {
  // systemd skips whitespace after the condition's "=", so it cannot ask for a value that starts with some.
  if (/^\s/.test(expected))
    throw new Error(`${key}: a value starting with whitespace cannot be checked`);
  // The condition is itself specifier-expanded and unquoted by systemd.
  const quoted = `'${expected.replace(/[\\']/g, (c) => `\\${c}`).replaceAll('%', '%%')}'`;
  const r = spawnSync('systemd-analyze', ['condition', `ConditionOSRelease=${key}=${quoted}`], {
    env: { PATH: process.env.PATH, SYSTEMD_OS_RELEASE: file },
    encoding: 'utf8',
  });
  if (r.error) throw r.error;
  return r.status === 0;
}

/**
 * The environment systemd gives the service's processes: what User= sets
 * (systemd.exec(5), "Environment Variables in Spawned Processes"), then
 * Environment=, then EnvironmentFile= (which overrides it). Nothing of the
 * caller's own environment.
 */
export async function serviceEnvironment(unit: Unit): Promise<Record<string, string>> {
  const env: Record<string, string> = {};
  const user = values(unit, 'Service', 'User');
  if (user.length > 0) {
    if (user[0] !== 'root') throw new Error(`User=${user[0]}`);
    Object.assign(env, { HOME: '/root', USER: 'root', LOGNAME: 'root' });
  }
  for (const line of values(unit, 'Service', 'Environment')) {
    for (const assignment of words(specifiers(line))) {
      const eq = assignment.indexOf('=');
      env[assignment.slice(0, eq)] = assignment.slice(eq + 1);
    }
  }
  env.PATH ??= '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin';
  for (const file of values(unit, 'Service', 'EnvironmentFile')) {
    const text = await readFile(specifiers(file), 'utf8');
    for (const [k, v] of parseEnvFile(text)) env[k] = v;
  }
  return env;
}
