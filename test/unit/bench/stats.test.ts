import { describe, expect, it } from 'vitest';
import { binEdges, histogramCounts, quantile, summarise } from '../../../bench/lib/stats.ts';

describe('summarise', () => {
  it('reports the median of an odd and an even number of runs, with min and max', () => {
    expect(summarise([5, 1, 3])).toEqual({ median: 3, min: 1, max: 5, runs: 3 });
    expect(summarise([4, 1, 3, 2])).toEqual({ median: 2.5, min: 1, max: 4, runs: 4 });
  });

  it('refuses an empty sample rather than reporting NaN as a figure', () => {
    expect(() => summarise([])).toThrow(/no samples/);
  });

  it('does not reorder the caller’s array', () => {
    const runs = [3, 1, 2];
    summarise(runs);
    expect(runs).toEqual([3, 1, 2]);
  });
});

describe('quantile', () => {
  it('uses the nearest rank: p50 and p99 of 1..100', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(quantile(values, 0.5)).toBe(50);
    expect(quantile(values, 0.99)).toBe(99);
    expect(quantile(values, 1)).toBe(100);
    expect(quantile(values, 0)).toBe(1);
  });
});

describe('histogramCounts', () => {
  it('counts every sample once, clamping the out-of-range ones into the end bins', () => {
    const counts = histogramCounts([-1, 0, 0.1, 0.5, 0.99, 1, 7], 0, 1, 4);
    expect(counts).toEqual([3, 0, 1, 3]);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(7);
  });

  it('puts a value on an inner edge in the bin that starts there', () => {
    expect(histogramCounts([0.25, 0.5], 0, 1, 4)).toEqual([0, 1, 1, 0]);
  });

  it('refuses an empty range or a bad bin count', () => {
    expect(() => histogramCounts([1], 1, 1, 4)).toThrow(RangeError);
    expect(() => histogramCounts([1], 0, 1, 0)).toThrow(RangeError);
    expect(() => histogramCounts([1], 0, 1, 2.5)).toThrow(RangeError);
  });

  it('has edges that match its bins', () => {
    expect(binEdges(0, 1, 4)).toEqual([0, 0.25, 0.5, 0.75, 1]);
  });
});
