/**
 * Online standard scaler: z_j = (x_j − mean_j) / std_j with the running mean and the
 * population variance of the examples learned so far, updated by Welford's method
 * (B. P. Welford, 1962, "Note on a method for calculating corrected sums of squares and
 * products", Technometrics 4(3)), which stays accurate when the mean is large relative to
 * the spread, where the naive Σx² − (Σx)²/n cancels catastrophically.
 *
 * SGD's learning rate is shared by all features, so features on very different scales
 * (prices in the thousands next to ratios near 0) make it either diverge on the large ones
 * or crawl on the small ones; scaling first makes one rate fit all.
 *
 * A feature whose variance is still 0 (constant so far, or only one example) maps to 0:
 * with no spread seen there is no scale to measure a deviation against, and 0 keeps it out
 * of the head's score rather than feeding it an unscaled, possibly huge value or NaN.
 *
 * `learn` refuses NaN/±∞ and wrong lengths with `LearnerError('BAD_INPUT')` and then changes
 * nothing; `transform` with an `out` buffer allocates nothing.
 *
 * Use in test-then-train: transform with the statistics *before* the row (what prediction
 * would have seen), predict, let the head learn that same vector, then learn the row.
 *
 * ```ts
 * import { StandardScaler } from './scaler.ts';
 * const scaler = new StandardScaler(2);
 * scaler.learn([1, 10]);
 * scaler.learn([3, 10]);
 * scaler.transform([3, 10], new Float64Array(2)); // Float64Array [1, 0]
 * ```
 */
import { LearnerError } from '../errors.ts';
import type { Vector } from './types.ts';

/** Everything needed to resume a scaler exactly; structured-clone friendly. */
export interface ScalerState {
  dim: number;
  /** Examples learned. */
  n: number;
  mean: Float64Array;
  /** Sum of squared deviations from the mean (Welford's M2). */
  m2: Float64Array;
}

export class StandardScaler {
  readonly dim: number;
  private count = 0;
  private readonly mean: Float64Array;
  private readonly m2: Float64Array;
  /** 1 / std per feature (0 where the variance is 0), kept in step with m2 by `learn`. */
  private readonly invStd: Float64Array;

  constructor(dim: number) {
    if (!Number.isInteger(dim) || dim <= 0) {
      throw new LearnerError('BAD_CONFIG', `dim must be a positive integer, got ${String(dim)}`);
    }
    this.dim = dim;
    this.mean = new Float64Array(dim);
    this.m2 = new Float64Array(dim);
    this.invStd = new Float64Array(dim);
  }

  /** Examples learned so far. */
  get n(): number {
    return this.count;
  }

  learn(x: Vector): void {
    this.check(x);
    const n = ++this.count;
    const { mean, m2, invStd } = this;
    for (let j = 0; j < this.dim; j++) {
      const v = x[j];
      const delta = v - mean[j];
      mean[j] += delta / n;
      m2[j] += delta * (v - mean[j]);
      const variance = m2[j] / n;
      invStd[j] = variance > 0 ? 1 / Math.sqrt(variance) : 0;
    }
  }

  /** Writes the scaled x into `out` (allocated when omitted) and returns it. */
  transform(x: Vector, out?: Float64Array): Float64Array {
    this.check(x);
    if (out !== undefined && !(out instanceof Float64Array && out.length === this.dim)) {
      throw new LearnerError(
        'BAD_INPUT',
        `transform needs a Float64Array(${this.dim}) to write to`,
      );
    }
    const result = out ?? new Float64Array(this.dim);
    const { mean, invStd } = this;
    for (let j = 0; j < this.dim; j++) result[j] = (x[j] - mean[j]) * invStd[j];
    return result;
  }

  /** Learns x, then transforms it with the updated statistics. */
  learnTransform(x: Vector, out?: Float64Array): Float64Array {
    this.learn(x);
    return this.transform(x, out);
  }

  /** Running variance per feature (population, divides by n), written into `out` when given. */
  variance(out?: Float64Array): Float64Array {
    const result = out ?? new Float64Array(this.dim);
    for (let j = 0; j < this.dim; j++) result[j] = this.count > 0 ? this.m2[j] / this.count : 0;
    return result;
  }

  /** Running mean per feature, written into `out` when given. */
  means(out?: Float64Array): Float64Array {
    const result = out ?? new Float64Array(this.dim);
    result.set(this.mean);
    return result;
  }

  exportState(): ScalerState {
    return { dim: this.dim, n: this.count, mean: this.mean.slice(), m2: this.m2.slice() };
  }

  static restore(state: ScalerState): StandardScaler {
    const scaler = new StandardScaler(state?.dim);
    const { dim } = scaler;
    if (!Number.isSafeInteger(state.n) || state.n < 0) {
      throw new LearnerError('BAD_CONFIG', `scaler state n must be a non-negative integer`);
    }
    for (const [name, array] of [
      ['mean', state.mean],
      ['m2', state.m2],
    ] as const) {
      if (
        !(array instanceof Float64Array) ||
        array.length !== dim ||
        !array.every(Number.isFinite)
      ) {
        throw new LearnerError(
          'BAD_CONFIG',
          `scaler state ${name} must be a finite Float64Array(${dim})`,
        );
      }
    }
    if (state.m2.some((v) => v < 0)) throw new LearnerError('BAD_CONFIG', 'scaler state m2 < 0');
    scaler.count = state.n;
    scaler.mean.set(state.mean);
    scaler.m2.set(state.m2);
    for (let j = 0; j < dim; j++) {
      const variance = state.n > 0 ? state.m2[j] / state.n : 0;
      scaler.invStd[j] = variance > 0 ? 1 / Math.sqrt(variance) : 0;
    }
    return scaler;
  }

  private check(x: Vector): void {
    if (x?.length !== this.dim) {
      throw new LearnerError('BAD_INPUT', `expected ${this.dim} features, got ${x?.length}`);
    }
    for (let j = 0; j < this.dim; j++) {
      const v = x[j];
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw new LearnerError('BAD_INPUT', `feature ${j} is ${String(v)}`);
      }
    }
  }
}
