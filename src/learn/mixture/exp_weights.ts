/**
 * Exponential weights over K experts, with fixed share: the weights a mixture head
 * (`mixture_head.ts`) mixes its candidates' predictions with.
 *
 * After a round with losses ℓ_k and learning rate η,
 *
 *   v_k = π_k · e^(−η ℓ_k),   π_k ← (1 − α) · v_k / Σ_j v_j + α / K.
 *
 * - With log loss and η = 1 this is Bayes' rule over the candidates (Vovk's aggregating
 *   algorithm for log loss: Vovk 1990, "Aggregating strategies", COLT; Cesa-Bianchi & Lugosi
 *   2006, "Prediction, Learning, and Games", §3.3 and §9.2): predicting Σ π_k p_k, the mixture's
 *   cumulative log loss is within ln K of the best candidate's, on any sequence (α = 0).
 * - For squared loss on outcomes and predictions in an interval of width R, (ŷ − y)² is
 *   1/(2R²)-exp-concave, so the weighted mean prediction with η = 1/(2R²) stays within
 *   2R² ln K of the best candidate (Kivinen & Warmuth 1999, "Averaging expert predictions",
 *   EuroCOLT; Cesa-Bianchi & Lugosi 2006, Proposition 3.1).
 * - Fixed share α > 0 (Herbster & Warmuth 1998, "Tracking the best expert", Machine Learning
 *   32(2)) keeps every weight ≥ α/K, so a candidate that fell behind can lead again after a
 *   drift: the bound then holds against the best *sequence* of candidates with s switches,
 *   at an extra cost of about n·α + s·ln(K/α) nats.
 *
 * The losses are shifted by their minimum before exponentiating (the normalisation cancels
 * it), so no weight underflows unless it is truly e^−700 behind. Allocates nothing.
 *
 * ```ts
 * import { ExponentialWeights } from './exp_weights.ts';
 * const w = new ExponentialWeights(2, 0);
 * w.update(Float64Array.of(Math.log(2), Math.log(4))); // p(y) = ½ and ¼, η = 1
 * w.weights; // Float64Array [2/3, 1/3]: Bayes' posterior
 * ```
 */
import { LearnerError } from '../../errors.ts';

export class ExponentialWeights {
  /** The normalised weights π (sum 1). */
  readonly weights: Float64Array;
  /**
   * `[0]` is the learning rate η of the next {@link update} (default 1: Bayes' rule for log
   * loss). A typed array so the caller sets it without passing a double through a call.
   */
  readonly rate = Float64Array.of(1);

  readonly k: number;
  readonly share: number;

  constructor(k: number, share: number) {
    this.k = k;
    this.share = share;
    this.weights = new Float64Array(k).fill(1 / k);
  }

  /** One round: every candidate's loss, at the learning rate `rate[0]`. */
  update(losses: Float64Array): void {
    const eta = this.rate[0];
    const pi = this.weights;
    const k = this.k;
    let min = losses[0];
    for (let i = 1; i < k; i++) if (losses[i] < min) min = losses[i];
    let sum = 0;
    for (let i = 0; i < k; i++) {
      const v = pi[i] * Math.exp(-eta * (losses[i] - min));
      pi[i] = v;
      sum += v;
    }
    if (!(sum > 0)) {
      // Without share, every candidate with weight left can fall e^−745 behind the best one
      // in one round (whose weight had already underflowed): start over on the round's best.
      for (let i = 0; i < k; i++) pi[i] = losses[i] === min ? 1 : 0;
      sum = 0;
      for (let i = 0; i < k; i++) sum += pi[i];
    }
    const keep = (1 - this.share) / sum;
    const spread = this.share / k;
    for (let i = 0; i < k; i++) pi[i] = pi[i] * keep + spread;
  }

  /** Index of the largest weight (the first on a tie). */
  leader(): number {
    let best = 0;
    for (let i = 1; i < this.k; i++) if (this.weights[i] > this.weights[best]) best = i;
    return best;
  }

  /** Loads exported weights; BAD_CONFIG (and nothing changed) unless they are a distribution. */
  load(weights: ArrayLike<number>): void {
    let sum = 0;
    for (let i = 0; i < this.k; i++) {
      const v = weights[i];
      if (typeof v !== 'number' || !(v >= 0 && v <= 1)) {
        throw new LearnerError('BAD_CONFIG', `mixture weight ${i} must be in [0, 1], got ${v}`);
      }
      sum += v;
    }
    if (weights.length !== this.k || Math.abs(sum - 1) > 1e-9) {
      throw new LearnerError('BAD_CONFIG', `mixture weights must be ${this.k} summing to 1`);
    }
    for (let i = 0; i < this.k; i++) this.weights[i] = weights[i];
  }
}
