/**
 * Building AUC sketches (protocol.ts, `AucSketch`): two histograms of P(positive), one per
 * observed class, over fixed bins. Unlike an exact AUC, which needs every score, they take
 * constant space per window and add up across windows and devices; the server reads the AUC of
 * the merged histograms with `aucFromSketch` (to within the bin width).
 */
import type { AucSketch } from './protocol.ts';
import { AUC_SKETCH_BINS, aucSketchBin } from './protocol.ts';

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
