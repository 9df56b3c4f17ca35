// AUC from mergeable sketches against the exact AUC over every score.
import { describe, expect, test } from 'vitest';
import { mulberry32 } from '../../../models/onnx/prng.ts';
import {
  addToSketch,
  aucFromSketch,
  emptySketch,
  mergeSketches,
} from '../../../src/metrics/auc_sketch.ts';
import { RocAuc } from '../../../src/metrics/roc_auc.ts';
import { AUC_SKETCH_BINS } from '../../../src/protocol/index.ts';

/** Scores from two overlapping distributions: a classifier of middling quality. */
function sample(n: number, seed: number, separation: number) {
  const random = mulberry32(seed);
  return Array.from({ length: n }, () => {
    const positive = random() < 0.35;
    const noise = (random() + random() + random()) / 3;
    const score = Math.min(1, Math.max(0, noise + (positive ? separation : -separation)));
    return { positive, score };
  });
}

describe('AUC sketch', () => {
  test.each([
    [0.05, 1],
    [0.15, 2],
    [0.3, 3],
  ])('separation %s: within the bin width of the exact AUC', (separation, seed) => {
    const data = sample(5000, seed, separation);
    const exact = new RocAuc();
    const sketch = emptySketch();
    for (const { positive, score } of data) {
      exact.update(positive, score);
      addToSketch(sketch, score, positive);
    }
    const truth = exact.get()!;
    // Only pairs that share a bin can be misjudged, and they are counted ½: the error is at
    // most half the share of same-bin pairs, far below one bin's width for spread scores.
    expect(Math.abs(aucFromSketch(sketch)! - truth)).toBeLessThanOrEqual(1 / AUC_SKETCH_BINS);
  });

  test('scores on bin edges and ties: exact when every score has its own bin', () => {
    const exact = new RocAuc();
    const sketch = emptySketch();
    const points: [boolean, number][] = [
      [true, 0.905],
      [false, 0.105],
      [true, 0.505],
      [false, 0.505],
      [false, 0.805],
      [true, 0.305],
    ];
    for (const [positive, score] of points) {
      exact.update(positive, score);
      addToSketch(sketch, score, positive);
    }
    expect(aucFromSketch(sketch)).toBeCloseTo(exact.get()!, 12);
  });

  test('merging sketches equals sketching the union (windows and devices add up)', () => {
    const data = sample(3000, 9, 0.1);
    const whole = emptySketch();
    const parts = [emptySketch(), emptySketch(), emptySketch()];
    data.forEach(({ positive, score }, i) => {
      addToSketch(whole, score, positive);
      addToSketch(parts[i % 3], score, positive);
    });
    const merged = parts.reduce(mergeSketches);
    expect(merged).toEqual(whole);
    expect(aucFromSketch(merged)).toBe(aucFromSketch(whole));
  });

  test('one class only: no AUC; out-of-range and NaN scores land in the end bins', () => {
    const sketch = emptySketch();
    addToSketch(sketch, 0.7, true);
    expect(aucFromSketch(sketch)).toBeNull();
    addToSketch(sketch, Number.NaN, false);
    addToSketch(sketch, 1.5, false);
    expect(sketch.negative[0]).toBe(1);
    expect(sketch.negative[AUC_SKETCH_BINS - 1]).toBe(1);
  });
});
