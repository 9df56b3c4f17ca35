/** A figure measured over several runs: we report the median, with min and max for spread. */
export interface Figure {
  median: number;
  min: number;
  max: number;
  runs: number;
}

export function summarise(samples: readonly number[]): Figure {
  if (samples.length === 0) throw new Error('no samples to summarise');
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median, min: sorted[0], max: sorted[sorted.length - 1], runs: sorted.length };
}

/** The q-quantile (0..1) of samples, nearest rank. */
export function quantile(samples: readonly number[], q: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

/** Histogram of samples over `bins` equal-width bins from `from` to `to`; values outside
 * the range go to the first or last bin, so every sample is counted. */
export function histogramCounts(
  samples: readonly number[],
  from: number,
  to: number,
  bins: number,
): number[] {
  if (!Number.isInteger(bins) || bins < 1) throw new RangeError('bins must be a positive integer');
  if (!(to > from)) throw new RangeError('a histogram needs to > from');
  const counts = new Array<number>(bins).fill(0);
  const width = (to - from) / bins;
  for (const value of samples) {
    const bin = Math.floor((value - from) / width);
    counts[Math.min(bins - 1, Math.max(0, bin))]++;
  }
  return counts;
}

/** `bins` + 1 equal steps from `from` to `to`: a histogram's bin edges. */
export function binEdges(from: number, to: number, bins: number): number[] {
  return Array.from({ length: bins + 1 }, (_, i) => from + ((to - from) * i) / bins);
}
