/**
 * AUC sketches (src/protocol, `AucSketch`): building, binning and reading them: two histograms of P(positive), one per
 * observed class, over fixed bins. Unlike an exact AUC, which needs every score, they take
 * constant space per window and add up across windows and devices; the server reads the AUC of
 * the merged histograms with `aucFromSketch` (to within the bin width).
 */
import type { AucSketch } from '../protocol/index.ts';
import { AUC_SKETCH_BINS } from '../protocol/index.ts';

export function emptySketch(): AucSketch {
  return {
    positive: new Array<number>(AUC_SKETCH_BINS).fill(0),
    negative: new Array<number>(AUC_SKETCH_BINS).fill(0),
  };
}

/** Counts one outcome: its predicted P(positive) and whether it was positive. */
export function addToSketch(sketch: AucSketch, probability: number, positive: boolean): void {
  (positive ? sketch.positive : sketch.negative)[aucSketchBin(probability)] += 1;
}

/** The sum of two sketches (a new one): what a server does with windows. */
export function mergeSketches(a: AucSketch, b: AucSketch): AucSketch {
  return {
    positive: a.positive.map((count, i) => count + b.positive[i]),
    negative: a.negative.map((count, i) => count + b.negative[i]),
  };
}

/** The bin of a probability in an {@link AucSketch}: ⌊p · bins⌋, clamped to [0, bins − 1]. */
export function aucSketchBin(probability: number): number {
  if (!(probability > 0)) return 0; // also NaN
  return Math.min(AUC_SKETCH_BINS - 1, Math.floor(probability * AUC_SKETCH_BINS));
}

/**
 * ROC AUC from (merged) histograms: P(score of a positive > score of a negative), counting
 * pairs in the same bin as ties (½). Null when either class is absent.
 */
export function aucFromSketch(sketch: AucSketch): number | null {
  let positives = 0;
  let negatives = 0;
  for (let i = 0; i < sketch.positive.length; i++) positives += sketch.positive[i];
  for (let i = 0; i < sketch.negative.length; i++) negatives += sketch.negative[i];
  if (positives === 0 || negatives === 0) return null;
  let negativesBelow = 0;
  let wins = 0;
  for (let i = 0; i < sketch.positive.length; i++) {
    const negativeHere = sketch.negative[i] ?? 0;
    wins += sketch.positive[i] * (negativesBelow + negativeHere / 2);
    negativesBelow += negativeHere;
  }
  return wins / (positives * negatives);
}
