// What the pages' form handlers share: reading a posted form's fields.
import { BerthError } from '../core/errors.ts';

/** One text field of a posted form; a missing or non-text one is a usage error. */
export function formField(body: unknown, name: string): string {
  const value = (body as Record<string, unknown> | null | undefined)?.[name];
  if (typeof value !== 'string') {
    throw new BerthError('BERTH_E_USAGE', { reason: `the form has no "${name}" field` });
  }
  return value;
}

/**
 * A textarea's value as it was typed: browsers send every line break in it
 * as CRLF (HTML's form submission normalizes them), which would put a \r
 * into a value with newlines, such as a PEM key, that config:set would not.
 */
export const typedText = (value: string): string => value.replace(/\r\n/g, '\n');
