// Bundles kept to ASCII (issue 17: memory). V8 keeps every loaded script's
// source text in the heap for as long as the process runs, one byte per
// character only when every character fits in one: a single "—" in a
// comment makes the whole file two bytes a character. esbuild escapes what
// is not ASCII in strings, regular expressions and identifiers, but leaves
// comments as they were; this escapes the comments too (as text: a comment
// means nothing). Measured with every bundle ASCII, idle with no apps:
// control 45 → 41 MiB, all of Berth 135–137 → 128–129.5 MB.
// Plain JavaScript on purpose: infra/build.mjs runs it before any TypeScript can.
import { parse } from 'acorn';

const NOT_ASCII = /[^\x00-\x7f]/;

const escaped = (text) =>
  text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/**
 * `code` with the characters of its comments that are not ASCII written as
 * `\uXXXX`. What is left that is not ASCII (the raw text of a tagged
 * template, which escaping would change) stays, and `left` counts it.
 */
export function asciiComments(code) {
  if (!NOT_ASCII.test(code)) return { code, left: 0 };
  const comments = [];
  parse(code, {
    ecmaVersion: 'latest',
    sourceType: 'module',
    allowHashBang: true,
    onComment: (_block, _text, start, end) => comments.push([start, end]),
  });
  let out = '';
  let at = 0;
  for (const [start, end] of comments) {
    out += code.slice(at, start) + escaped(code.slice(start, end));
    at = end;
  }
  out += code.slice(at);
  return { code: out, left: (out.match(/[^\x00-\x7f]/g) ?? []).length };
}
