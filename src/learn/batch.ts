/**
 * The shape check every head's `partialFitMany` starts with: `xs` holds `ys.length` rows of
 * `dim` features, row-major. Shared so that each head refuses a mis-shaped batch with the same
 * code and words, before it touches any state (a batch is learned whole or not at all).
 *
 * ```ts
 * import { batchRows } from './batch.ts';
 * batchRows(new Float64Array(6), [0, 1, 0], 2); // 3
 * batchRows(new Float64Array(5), [0, 1, 0], 2); // throws LearnerError BAD_INPUT
 * ```
 */
import { LearnerError } from '../errors.ts';
import type { Label, Vector } from './types.ts';

/** The number of rows in the batch; throws `BAD_INPUT` when `xs` is not `ys.length × dim`. */
export function batchRows(xs: Vector, ys: ArrayLike<Label>, dim: number): number {
  const n = ys?.length;
  if (!Number.isInteger(n) || xs?.length !== n * dim) {
    throw new LearnerError(
      'BAD_INPUT',
      `expected ${n} rows of ${dim} features (${n * dim} numbers), got ${xs?.length}: ` +
        'pass the rows one after another in one flat array, one label per row',
    );
  }
  return n;
}
