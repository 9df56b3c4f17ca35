/**
 * Losses that drive the shared linear-model core ({@link LinearModel}). A loss turns the raw
 * scores of one example into the gradient of the loss with respect to each score; the
 * optimizer then turns that gradient into a weight update. Keeping the loss separate from
 * the optimizer is what lets one core serve logistic, softmax and linear heads.
 *
 * - {@link LogLoss}: binary logistic loss on one score (scikit-learn's `loss="log_loss"`).
 * - {@link CrossEntropy}: multinomial log loss on K scores (softmax regression).
 * - {@link SquaredLoss}: half squared error on one score (scikit-learn's `squared_error`).
 *
 * `target` is a class index (0/1 for binary, 0..K-1 for multiclass) or the regression value.
 *
 * ```ts
 * import { LogLoss } from './losses.ts';
 * const scores = Float64Array.of(0), grad = new Float64Array(1);
 * LogLoss.gradient(scores, 1, grad); // grad[0] === -0.5: push the score up
 * ```
 */

/**
 * scikit-learn clips dloss to ±1e12 (`MAX_DLOSS` in `_sgd_fast.pyx`) so that one outlier
 * cannot blow up an SGD step; we do the same in SGD to stay comparable.
 */
export const MAX_DLOSS = 1e12;

export interface Loss {
  readonly name: 'log_loss' | 'cross_entropy' | 'squared_error';
  /** Writes ∂loss/∂score_k for every output into `grad`. */
  gradient(scores: Float64Array, target: number, grad: Float64Array): void;
  /** The loss of one example (log loss, or squared error (s − y)² for regression). */
  value(scores: Float64Array, target: number): number;
  /**
   * {@link value} written into `out[0]`: the update path's form (a double returned from a
   * call V8 does not inline is boxed, i.e. allocated; one stored in a typed array is not).
   */
  valueInto(scores: Float64Array, target: number, out: Float64Array): void;
}

/** log(1 + e^z) without overflow for large z or loss of precision for very negative z. */
export function softplus(z: number): number {
  return z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
}

/** The logistic function, written so that neither tail overflows. */
export function sigmoid(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

export const LogLoss: Loss = {
  name: 'log_loss',
  gradient(scores, target, grad) {
    // scikit-learn's Log.dloss with y in {−1, +1}, including its ±18 shortcuts: they save an
    // exp and keep us bit-comparable with SGDClassifier in the parity test.
    const y = target === 1 ? 1 : -1;
    const z = scores[0] * y;
    if (z > 18) grad[0] = -y * Math.exp(-z);
    else if (z < -18) grad[0] = -y;
    else grad[0] = -y / (Math.exp(z) + 1);
  },
  value(scores, target) {
    return softplus(target === 1 ? -scores[0] : scores[0]);
  },
  valueInto(scores, target, out) {
    const z = target === 1 ? -scores[0] : scores[0];
    out[0] = z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
  },
};

export const CrossEntropy: Loss = {
  name: 'cross_entropy',
  gradient(scores, target, grad) {
    // Softmax minus the one-hot target; shifting by the max keeps exp from overflowing.
    const k = scores.length;
    let max = scores[0];
    for (let i = 1; i < k; i++) if (scores[i] > max) max = scores[i];
    let sum = 0;
    for (let i = 0; i < k; i++) {
      const e = Math.exp(scores[i] - max);
      grad[i] = e;
      sum += e;
    }
    const inv = 1 / sum;
    for (let i = 0; i < k; i++) grad[i] *= inv;
    grad[target] -= 1;
  },
  value(scores, target) {
    return logSumExp(scores) - scores[target];
  },
  valueInto(scores, target, out) {
    let max = scores[0];
    for (let i = 1; i < scores.length; i++) if (scores[i] > max) max = scores[i];
    let sum = 0;
    for (let i = 0; i < scores.length; i++) sum += Math.exp(scores[i] - max);
    out[0] = max + Math.log(sum) - scores[target];
  },
};

export const SquaredLoss: Loss = {
  name: 'squared_error',
  gradient(scores, target, grad) {
    // Gradient of ½(s − y)², as scikit-learn's SquaredLoss; the ½ keeps learning rates
    // interchangeable with SGDRegressor's.
    grad[0] = scores[0] - target;
  },
  value(scores, target) {
    const r = scores[0] - target;
    return r * r;
  },
  valueInto(scores, target, out) {
    const r = scores[0] - target;
    out[0] = r * r;
  },
};

export function logSumExp(scores: Float64Array): number {
  let max = scores[0];
  for (let i = 1; i < scores.length; i++) if (scores[i] > max) max = scores[i];
  let sum = 0;
  for (let i = 0; i < scores.length; i++) sum += Math.exp(scores[i] - max);
  return max + Math.log(sum);
}
