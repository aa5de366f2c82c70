// A benchmark scenario: repeated runs of one measurement, reported as
// medians. Comparisons (Berth against a baseline) are measured pair by pair
// in one run, since these machines are shared and noisy.
export interface Figure {
  /** What was measured, e.g. "warm start to ready". */
  name: string;
  unit: 'ms' | 'req/s' | 'ratio' | 'MB' | 'count' | 'KB' | 'MB/s';
  median: number;
  /** Every sample, in the order taken. */
  samples: number[];
}

export interface Scenario {
  name: string;
  description: string;
  run(log: (line: string) => void): Promise<Figure[]>;
}

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1
    ? (s[mid] as number)
    : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export function figure(name: string, unit: Figure['unit'], samples: number[]): Figure {
  return { name, unit, median: median(samples), samples };
}
