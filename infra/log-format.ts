// Turns a service's pino JSON line into one line for a person at a terminal:
// time, component, level, message, then the other fields as key=value.
const LEVELS: Record<number, string> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};
const SKIP = new Set(['time', 'level', 'msg', 'component', 'pid', 'hostname']);

export function formatLogLine(line: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line; // not JSON (a stack trace, a child's stray print): show it as it is
  }
  if (entry === null || typeof entry !== 'object') return line;
  const time =
    typeof entry.time === 'number' ? new Date(entry.time).toISOString().slice(11, 19) : '--:--:--';
  const level = LEVELS[entry.level as number] ?? String(entry.level ?? '');
  const component = String(entry.component ?? '-');
  const rest = Object.entries(entry)
    .filter(([k]) => !SKIP.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return [time, component.padEnd(8), level.padEnd(5), String(entry.msg ?? ''), ...rest].join(' ');
}
