/**
 * ADWIN on seeded streams with a known change point. The bounds asserted here are the figures
 * stated in src/drift/adwin.ts's doc comment; change both together.
 */
import { describe, expect, test } from 'vitest';
import { mulberry32 } from '../../../models/onnx/prng.ts';
import { Adwin } from '../../../src/drift/index.ts';
import { isLearnerError } from '../../../src/errors.ts';
import { bernoulli, delays, falseAlarms, gaussian, runChange } from './streams.ts';

const RUNS = 100;
const BEFORE = 1000;
const AFTER = 2000;

describe('detection delay (100 seeded runs, change after 1,000 values)', () => {
  test('Bernoulli error rate 0.1 → 0.4: within 128 values in ≥ 95 runs, no early alarm', () => {
    const runs = Array.from({ length: RUNS }, (_, seed) =>
      runChange(new Adwin(), seed + 1, bernoulli(0.1), bernoulli(0.4), BEFORE, AFTER),
    );
    const figures = delays(runs, 128);
    expect(figures.within).toBeGreaterThanOrEqual(95);
    expect(figures.median).toBeLessThanOrEqual(96);
    expect(figures.early).toBe(0);
  });

  test('Gaussian mean 0 → 1 (σ = 1): within 64 values in ≥ 95 runs, ≤ 1 run alarmed early', () => {
    const runs = Array.from({ length: RUNS }, (_, seed) =>
      runChange(new Adwin(), seed + 1, gaussian(0), gaussian(1), BEFORE, AFTER),
    );
    const figures = delays(runs, 64);
    expect(figures.within).toBeGreaterThanOrEqual(95);
    expect(figures.early).toBeLessThanOrEqual(1);
  });
});

describe('false alarms on stationary streams (10 seeded runs of 100,000 values)', () => {
  test('Bernoulli(0.1): none', { timeout: 30_000 }, () => {
    const alarms = Array.from({ length: 10 }, (_, i) =>
      falseAlarms(new Adwin(), 1000 + i, bernoulli(0.1), 100_000),
    );
    expect(alarms.reduce((a, b) => a + b)).toBe(0);
  });

  test('N(0, 1): at most 2 in all 1,000,000 values', { timeout: 30_000 }, () => {
    const alarms = Array.from({ length: 10 }, (_, i) =>
      falseAlarms(new Adwin(), 1000 + i, gaussian(0), 100_000),
    );
    expect(alarms.reduce((a, b) => a + b)).toBeLessThanOrEqual(2);
  });
});

describe('the window', () => {
  test('while stationary it holds every value, with their exact mean and variance', () => {
    const adwin = new Adwin();
    const random = mulberry32(5);
    const values: number[] = [];
    for (let i = 0; i < 5000; i++) {
      const v = random() < 0.3 ? 1 : 0;
      values.push(v);
      expect(adwin.update(v)).toBe(false);
    }
    const mean = values.reduce((a, b) => a + b) / values.length;
    const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length;
    expect(adwin.width).toBe(5000);
    expect(adwin.mean).toBeCloseTo(mean, 12);
    expect(adwin.variance).toBeCloseTo(variance, 9);
  });

  test('is compressed: O(maxBuckets · log W) buckets, not W values', () => {
    const adwin = new Adwin({ maxBuckets: 5 });
    const random = mulberry32(6);
    for (let i = 0; i < 100_000; i++) adwin.update(random());
    const state = adwin.exportState();
    const buckets = state.counts.reduce((a, b) => a + b, 0);
    expect(state.width).toBe(100_000);
    expect(state.rows).toBeLessThanOrEqual(Math.ceil(Math.log2(100_000 / 5)) + 1);
    expect(buckets).toBeLessThanOrEqual(5 * state.rows);
    for (const count of state.counts) expect(count).toBeGreaterThanOrEqual(1);
  });

  test('after a change it keeps only values of the new regime, whose mean it estimates', () => {
    const adwin = new Adwin();
    const random = mulberry32(7);
    for (let i = 0; i < 3000; i++) adwin.update(random() < 0.1 ? 1 : 0);
    for (let i = 0; i < 3000; i++) adwin.update(random() < 0.6 ? 1 : 0);
    expect(adwin.detections).toBeGreaterThanOrEqual(1);
    expect(adwin.width).toBeLessThan(3000 + 200);
    expect(adwin.mean).toBeGreaterThan(0.55);
    expect(adwin.mean).toBeLessThan(0.65);
  });

  test('a decrease is detected too (the test is two-sided)', () => {
    const run = runChange(new Adwin(), 3, bernoulli(0.5), bernoulli(0.1), BEFORE, AFTER);
    expect(run.delay).not.toBeNull();
    expect(run.delay!).toBeLessThanOrEqual(128);
  });

  test('a smaller delta makes it slower to call a change', () => {
    const at = (delta: number) =>
      runChange(new Adwin({ delta }), 11, bernoulli(0.1), bernoulli(0.3), BEFORE, 5000).delay!;
    expect(at(1e-5)).toBeGreaterThanOrEqual(at(0.1));
  });
});

test('rejects bad options with BAD_CONFIG', () => {
  for (const options of [{ delta: 0 }, { delta: 1 }, { clock: 0 }, { maxBuckets: 1 }]) {
    let error: unknown;
    try {
      new Adwin(options);
    } catch (e) {
      error = e;
    }
    expect(isLearnerError(error) && error.code === 'BAD_CONFIG', JSON.stringify(options)).toBe(
      true,
    );
  }
});

test('restore rejects a state whose buckets do not add up to its width', () => {
  const adwin = new Adwin();
  for (let i = 0; i < 100; i++) adwin.update(i % 2);
  const state = adwin.exportState();
  expect(() => Adwin.restore({ ...state, width: state.width + 1 })).toThrow(/width/);
});
