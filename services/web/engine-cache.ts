// Figures the pages ask the Docker Engine for that cost it work (a volume's
// size walks its files; an instance's CPU takes the Engine two of its
// once-a-second readings), kept for a while and shared: many page views, or
// many people on one page, make one question per key and period, never one
// each. A question that takes longer than its page may wait is left to
// finish for the next view; its page shows the figure as unknown.

/** What is kept of one key: the answer once it came, or the question under way. */
interface Entry<T> {
  at: number;
  value: Promise<T | undefined>;
}

export class EngineCache<T> {
  private readonly entries = new Map<string, Entry<T>>();

  constructor(
    /** How long an answer is kept. */
    private readonly ttlMs: number,
    /** Keys kept at most (the oldest go first), so the cache's size has a bound. */
    private readonly maxKeys = 500,
  ) {}

  /**
   * The kept answer for `key`, else `load()`'s (one question at a time per
   * key); undefined when it fails or takes longer than `waitMs`.
   */
  async get(key: string, load: () => Promise<T>, waitMs: number): Promise<T | undefined> {
    const now = Date.now();
    let entry = this.entries.get(key);
    if (!entry || now - entry.at > this.ttlMs) {
      entry = { at: now, value: load().catch(() => undefined) };
      this.entries.delete(key);
      this.entries.set(key, entry);
      while (this.entries.size > this.maxKeys) {
        const oldest = this.entries.keys().next().value;
        if (oldest === undefined) break;
        this.entries.delete(oldest);
      }
    }
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), Math.max(0, waitMs));
    });
    try {
      return await Promise.race([entry.value, late]);
    } finally {
      clearTimeout(timer);
    }
  }
}
