/** `code` with its comments' characters that are not ASCII written as `\uXXXX`; `left`: those left elsewhere. */
export function asciiComments(code: string): { code: string; left: number };
