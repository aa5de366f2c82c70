// Escaping for server-rendered HTML: every value from the store or a user
// goes through `html` before it reaches a page.
const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}

/** A tagged template that escapes every interpolated value unless it is already Safe. */
export class Safe {
  constructor(readonly text: string) {}
  toString() {
    return this.text;
  }
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): Safe {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    const piece = Array.isArray(v)
      ? v.map((x) => (x instanceof Safe ? x.text : escapeHtml(x))).join('')
      : v instanceof Safe
        ? v.text
        : escapeHtml(v);
    out += piece + (strings[i + 1] ?? '');
  });
  return new Safe(out);
}
