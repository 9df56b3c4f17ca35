import fc from 'fast-check';
import { expect, test } from 'vitest';
import { aucFromSketch, aucSketchBin } from '../../../src/metrics/auc_sketch.ts';
import { AUC_SKETCH_BINS } from '../../../src/protocol/index.ts';

/** Exact AUC by counting pairs. */
function exactAuc(positives: number[], negatives: number[]): number {
  let wins = 0;
  for (const p of positives) for (const n of negatives) wins += p > n ? 1 : p === n ? 0.5 : 0;
  return wins / (positives.length * negatives.length);
}

function sketch(positives: number[], negatives: number[]) {
  const positive = new Array(AUC_SKETCH_BINS).fill(0);
  const negative = new Array(AUC_SKETCH_BINS).fill(0);
  for (const p of positives) positive[aucSketchBin(p)]++;
  for (const n of negatives) negative[aucSketchBin(n)]++;
  return { positive, negative };
}

test('bins cover [0, 1] and clamp the rest', () => {
  expect(aucSketchBin(0)).toBe(0);
  expect(aucSketchBin(0.999)).toBe(99);
  expect(aucSketchBin(1)).toBe(99);
  expect(aucSketchBin(Number.NaN)).toBe(0);
  expect(aucSketchBin(-3)).toBe(0);
});

test('AUC from the sketch is the exact AUC of the binned scores, and merges across devices', () => {
  const scores = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), {
    minLength: 1,
    maxLength: 40,
  });
  fc.assert(
    fc.property(scores, scores, scores, scores, (p1, n1, p2, n2) => {
      const bin = (xs: number[]) => xs.map(aucSketchBin);
      const a = sketch(p1, n1);
      const b = sketch(p2, n2);
      const merged = {
        positive: a.positive.map((x, i) => x + b.positive[i]),
        negative: a.negative.map((x, i) => x + b.negative[i]),
      };
      const expected = exactAuc(bin([...p1, ...p2]), bin([...n1, ...n2]));
      expect(aucFromSketch(merged)).toBeCloseTo(expected, 10);
    }),
    { numRuns: 100 },
  );
  expect(aucFromSketch(sketch([0.9], []))).toBeNull();
});
