// Types of infra/build.mjs (plain JavaScript: it runs before any TypeScript can).
export const ROOT: string;
/** Every entry module, by its source path from the root. */
export const ENTRIES: readonly string[];
/** The hash of what the bundles are made from under `root`. */
export function sourceHash(root?: string): string;
/** The directory of the current bundles, compiled first when the sources changed. */
export function ensureBuild(options?: {
  log?: (line: string) => void;
  root?: string;
  /** Keep this bundle while the calling process runs, whatever compiles after. */
  claim?: boolean;
}): Promise<string>;
