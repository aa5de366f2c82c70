// A Dokku command that configures something Berth does not run (nginx's
// files, plugins, herokuish, Dokku's own trace switch): it answers with one
// line saying what Berth does instead (BERTH_E_DOKKU_DIFFERENT, exit 2), so a
// Dokku user's script stops with a reason rather than "unknown command".
import { BerthError } from '../services/core/errors.ts';
import type { Command } from './command.ts';

export interface DokkuOnly {
  name: string;
  usage: string;
  /** Why Berth has no such thing, as the error's first half. */
  why: string;
  /** What Berth does instead: the line the user acts on. */
  instead: string;
  /** Dokku's flags, taken so the answer is this line, not "unknown option". */
  options?: Command['options'];
}

export function dokkuOnly(d: DokkuOnly): Command {
  return {
    name: d.name,
    usage: d.usage,
    summary: `Dokku's; in Berth: ${d.instead}`,
    access: 'anyone',
    ...(d.options ? { options: d.options } : {}),
    instead: d.instead,
    arity: [0, Number.POSITIVE_INFINITY],
    async run() {
      throw new BerthError('BERTH_E_DOKKU_DIFFERENT', {
        what: d.name,
        why: d.why,
        instead: d.instead,
      });
    },
  };
}
