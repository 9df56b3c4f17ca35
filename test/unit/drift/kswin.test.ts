/**
 * KSWIN on seeded streams with a known change point. The bounds asserted here are the
 * figures stated in src/drift/kswin.ts's doc comment; change both together.
 */
import { describe, expect, test } from 'vitest';
import { mulberry32 } from '../../../models/onnx/prng.ts';
import { Adwin, Kswin, ksDistance } from '../../../src/drift/index.ts';
import { bernoulli, delays, falseAlarms, gaussian, runChange } from './streams.ts';

const RUNS = 100;
const BEFORE = 1000;
const AFTER = 2000;

describe('detection delay (100 seeded runs, change after 1,000 values)', () => {
  test('Gaussian mean 0 → 1 (σ = 1): within 48 values in ≥ 90 runs, 170 in ≥ 95', () => {
    const runs = Array.from({ length: RUNS }, (_, seed) =>
      runChange(new Kswin({ seed }), seed + 1, gaussian(0), gaussian(1), BEFORE, AFTER),
    );
    expect(delays(runs, 48).within).toBeGreaterThanOrEqual(90);
    const figures = delays(runs, 170);
    expect(figures.within).toBeGreaterThanOrEqual(95);
    expect(figures.median).toBeLessThanOrEqual(22);
  });

  test('a change of spread alone (σ 1 → 3, mean 0): within 60 values in ≥ 65 runs', () => {
    const runs = Array.from({ length: RUNS }, (_, seed) =>
      runChange(new Kswin({ seed }), seed + 1, gaussian(0, 1), gaussian(0, 3), BEFORE, AFTER),
    );
    const figures = delays(runs, 60);
    expect(figures.within).toBeGreaterThanOrEqual(65);
    expect(figures.median).toBeLessThanOrEqual(37);
    // ADWIN, which watches the mean, catches it within 60 values in a quarter of runs at most.
    const adwin = Array.from({ length: 20 }, (_, seed) =>
      runChange(new Adwin(), seed + 1, gaussian(0, 1), gaussian(0, 3), BEFORE, AFTER),
    );
    expect(delays(adwin, 60).within).toBeLessThanOrEqual(5);
  });

  test('Bernoulli error rate 0.1 → 0.4: coarse on 0/1 values, caught in 70–80 runs only', () => {
    const runs = Array.from({ length: RUNS }, (_, seed) =>
      runChange(new Kswin({ seed }), seed + 1, bernoulli(0.1), bernoulli(0.4), BEFORE, AFTER),
    );
    const figures = delays(runs, AFTER);
    expect(figures.within).toBeGreaterThanOrEqual(70);
    expect(figures.within).toBeLessThanOrEqual(80);
  });
});

describe('false alarms on stationary streams (seeded runs of 100,000 values)', () => {
  test('N(0, 1): about 3 per 1,000 values, at most 310 per 100,000 (3 runs)', {
    timeout: 30_000,
  }, () => {
    const alarms = Array.from({ length: 3 }, (_, i) =>
      falseAlarms(new Kswin({ seed: i }), 1000 + i, gaussian(0), 100_000),
    );
    for (const count of alarms) expect(count).toBeLessThanOrEqual(310);
  });

  test('Bernoulli(0.1): none (2 runs)', { timeout: 30_000 }, () => {
    const alarms = Array.from({ length: 2 }, (_, i) =>
      falseAlarms(new Kswin({ seed: i }), 1000 + i, bernoulli(0.1), 100_000),
    );
    expect(alarms.reduce((a, b) => a + b)).toBe(0);
  });
});

describe('the test', () => {
  test('ksDistance is the largest gap between the empirical CDFs, ties included', () => {
    const random = mulberry32(9);
    for (let trial = 0; trial < 200; trial++) {
      const n = 1 + Math.floor(random() * 20);
      const m = 1 + Math.floor(random() * 20);
      const draw = () => Math.floor(random() * 6); // few values: many ties
      const a = Float64Array.from({ length: n }, draw).sort();
      const b = Float64Array.from({ length: m }, draw).sort();
      let brute = 0;
      for (const v of [...a, ...b]) {
        const fa = a.filter((x) => x <= v).length / n;
        const fb = b.filter((x) => x <= v).length / m;
        brute = Math.max(brute, Math.abs(fa - fb));
      }
      expect(ksDistance(a, b)).toBeCloseTo(brute, 12);
    }
  });

  test('the same seed gives the same detections; another seed samples differently', () => {
    const run = (seed: number) => {
      const kswin = new Kswin({ seed });
      const random = mulberry32(77);
      const at: number[] = [];
      const draw = gaussian(0);
      for (let i = 0; i < 20_000; i++) if (kswin.update(draw(random))) at.push(i);
      return at;
    };
    expect(run(1)).toEqual(run(1));
    expect(run(1)).not.toEqual(run(2));
  });

  test('on a drift the window keeps only the recent statSize values', () => {
    const kswin = new Kswin({ windowSize: 100, statSize: 30 });
    for (let i = 0; i < 100; i++) kswin.update(0);
    let detected = false;
    for (let i = 0; i < 30 && !detected; i++) detected = kswin.update(10);
    expect(detected).toBe(true);
    const { window } = kswin.exportState();
    expect(window.length).toBe(30);
  });

  test('windowSize must leave statSize older values to sample from', () => {
    expect(() => new Kswin({ windowSize: 50, statSize: 30 })).toThrow(/windowSize/);
  });
});
