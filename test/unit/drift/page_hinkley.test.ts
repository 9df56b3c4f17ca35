/**
 * Page-Hinkley on seeded streams with a known change point. The bounds asserted here are the
 * figures stated in src/drift/page_hinkley.ts's doc comment; change both together.
 */
import { describe, expect, test } from 'vitest';
import { PageHinkley } from '../../../src/drift/index.ts';
import { bernoulli, delays, falseAlarms, gaussian, runChange } from './streams.ts';

const RUNS = 100;
const BEFORE = 1000;
const AFTER = 2000;
/** The tuning the doc comment gives for N(0, 1) noise: δ a quarter of the shift to catch. */
const GAUSSIAN = { delta: 0.25, threshold: 25 };

describe('detection delay (100 seeded runs, change after 1,000 values)', () => {
  test('Bernoulli error rate 0.1 → 0.4, defaults: within 220 values in ≥ 95 runs', () => {
    const runs = Array.from({ length: RUNS }, (_, seed) =>
      runChange(new PageHinkley(), seed + 1, bernoulli(0.1), bernoulli(0.4), BEFORE, AFTER),
    );
    const figures = delays(runs, 220);
    expect(figures.within).toBeGreaterThanOrEqual(95);
    expect(figures.median).toBeLessThanOrEqual(180);
    expect(figures.early).toBe(0);
  });

  test('Gaussian mean 0 → 1 (σ = 1), δ 0.25, λ 25: within 56 values in ≥ 95 runs', () => {
    const runs = Array.from({ length: RUNS }, (_, seed) =>
      runChange(new PageHinkley(GAUSSIAN), seed + 1, gaussian(0), gaussian(1), BEFORE, AFTER),
    );
    const figures = delays(runs, 56);
    expect(figures.within).toBeGreaterThanOrEqual(95);
    expect(figures.early).toBe(0);
  });
});

describe('false alarms on stationary streams (10 seeded runs of 100,000 values)', () => {
  test('Bernoulli(0.1), defaults: none', () => {
    const alarms = Array.from({ length: 10 }, (_, i) =>
      falseAlarms(new PageHinkley(), 1000 + i, bernoulli(0.1), 100_000),
    );
    expect(alarms.reduce((a, b) => a + b)).toBe(0);
  });

  test('N(0, 1), δ 0.25, λ 25: none', () => {
    const alarms = Array.from({ length: 10 }, (_, i) =>
      falseAlarms(new PageHinkley(GAUSSIAN), 1000 + i, gaussian(0), 100_000),
    );
    expect(alarms.reduce((a, b) => a + b)).toBe(0);
  });

  test('N(0, 1) with the defaults (tuned for 0/1 streams): 20–40 per 100,000, as documented', () => {
    const alarms = Array.from({ length: 3 }, (_, i) =>
      falseAlarms(new PageHinkley(), 1000 + i, gaussian(0), 100_000),
    );
    for (const count of alarms) {
      expect(count).toBeGreaterThanOrEqual(20);
      expect(count).toBeLessThanOrEqual(40);
    }
  });
});

describe('direction', () => {
  test("'up' ignores a falling mean, 'down' and 'both' catch it", () => {
    const fall = (direction: 'up' | 'down' | 'both') =>
      runChange(new PageHinkley({ direction }), 4, bernoulli(0.4), bernoulli(0.05), BEFORE, AFTER)
        .delay;
    expect(fall('up')).toBeNull();
    expect(fall('down')).not.toBeNull();
    expect(fall('both')).toBe(fall('down'));
  });

  test('restarts after a detection: the next one needs new evidence', () => {
    const ph = new PageHinkley({ threshold: 10, minInstances: 30 });
    for (let i = 0; i < 100; i++) ph.update(0);
    let first = -1;
    for (let i = 0; i < 200 && first < 0; i++) if (ph.update(1)) first = i;
    expect(first).toBeGreaterThan(0);
    expect(ph.n).toBe(100 + first + 1);
    expect(ph.statistic).toBe(0);
    // A constant 1 is now the stationary level: no second alarm.
    for (let i = 0; i < 1000; i++) expect(ph.update(1)).toBe(false);
  });

  test('no detection before minInstances values', () => {
    const ph = new PageHinkley({ threshold: 1, minInstances: 50, delta: 0 });
    const alarms: number[] = [];
    for (let i = 0; i < 60; i++) if (ph.update(i < 10 ? 0 : 5)) alarms.push(i);
    expect(alarms[0]).toBe(49);
  });
});
