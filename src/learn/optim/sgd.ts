/**
 * Plain stochastic gradient descent, step for step as scikit-learn's `_plain_sgd`
 * (`sklearn/linear_model/_sgd_fast.pyx`, 1.2), so that `SGDClassifier(loss="log_loss")`
 * fed one sample per `partial_fit` and our logistic head end up with the same weights
 * (see `test/golden/sklearn_parity.py`). For each example, with η from the schedule:
 *
 * 1. the gradient is computed with the old weights and clipped to ±1e12;
 * 2. L2 shrinks the weights: w ← max(0, 1 − η·l2)·w (never below zero, so a too-large η
 *    zeroes the weights instead of flipping them); the intercept is not penalised;
 * 3. w ← w − η·g·x, b ← b − η·g;
 * 4. L1 by the cumulative penalty of Tsuruoka, Tsujii & Ananiadou (2009), "Stochastic
 *    Gradient Descent Training for L1-regularized Log-linear Models with Cumulative
 *    Penalty": each weight is pulled towards zero by the total penalty it *could* have
 *    received so far (u) minus what it actually received (q), and clipped at zero. Clipping
 *    yields exact zeros, and the bookkeeping stops the noisy gradient from dragging weights
 *    away from zero that the penalty has already claimed.
 *
 * Parameters: `schedule` ('constant' | 'invscaling' | 'optimal', see `schedules.ts`), `eta0`
 * (initial rate for constant/invscaling), `powerT` (invscaling exponent); the head's `l2`
 * and `l1` are scikit-learn's `alpha·(1 − l1_ratio)` and `alpha·l1_ratio`, and 'optimal'
 * uses alpha = l2 + l1.
 *
 * Slots: `q` (applied L1 penalty per weight, only when l1 > 0). Scalars: `u`.
 *
 * ```ts
 * import { createHead } from '../index.ts';
 * const head = createHead({ task: 'binary', dim: 2, l1: 1e-3, l2: 0,
 *   optimizer: { kind: 'sgd', schedule: 'constant', eta0: 0.1 } });
 * for (let i = 0; i < 1000; i++) head.partialFit([i % 2 ? 1 : -1, Math.sin(i)], i % 2);
 * head.exportState().weights; // [≈4.5, 0]: the noise feature's weight is exactly 0
 * ```
 */
import { LearnerError } from '../../errors.ts';
import { MAX_DLOSS } from '../losses.ts';
import type { Schedule, Vector } from '../types.ts';
import { Optimizer, type Params } from './optimizer.ts';
import { createSchedule, type LearningRate } from './schedules.ts';

export interface SGDConfig {
  kind: 'sgd';
  schedule: Schedule;
  eta0: number;
  powerT: number;
}

export class SGD extends Optimizer {
  readonly config: Required<SGDConfig>;
  private readonly rate: LearningRate;
  private readonly q: Float64Array;
  /**
   * [u, u at the last save]: the total L1 penalty each weight could have received so far
   * (Tsuruoka et al.'s u). In a typed array, not a number field, so that no V8 field
   * representation change can box it.
   */
  private readonly penalty = new Float64Array(2);

  private readonly l2: number;
  private readonly l1: number;
  constructor(config: SGDConfig, l2: number, l1: number, size: number) {
    const q = new Float64Array(l1 > 0 ? size : 0);
    super(l1 > 0 ? { q } : {});
    this.l2 = l2;
    this.l1 = l1;
    this.q = q;
    this.config = {
      kind: 'sgd',
      schedule: config.schedule,
      eta0: config.eta0,
      powerT: config.powerT,
    };
    this.rate = createSchedule(config, l2 + l1);
  }

  step(p: Params, x: Vector, offset: number, grad: Float64Array, t: number): void {
    // × 1 is exact, so the default multiplier keeps scikit-learn parity bit for bit.
    const eta = this.rate.eta(t) * this.rateScale[0];
    const decay = this.l2 > 0 ? Math.max(0, 1 - eta * this.l2) : 1;
    const w = p.weights;
    const d = p.dim;
    let moved = 0;
    for (let k = 0; k < p.outputs; k++) {
      // Math.min/max rather than if-assignments: assigning the imported constant made V8 keep
      // g boxed, allocating a number per output per update.
      const g = Math.max(-MAX_DLOSS, Math.min(MAX_DLOSS, grad[k]));
      const update = -eta * g;
      const row = k * d;
      // Without L2, decay is 1 and w·1 is exact, so one loop serves both cases.
      if (row === 0 && offset === 0) {
        // The usual single-output, single-example case: plain indices let V8 drop bounds
        // checks, which is worth ~25% of the whole update.
        for (let j = 0; j < d; j++) w[j] = w[j] * decay + update * x[j];
      } else {
        for (let j = 0; j < d; j++) w[row + j] = w[row + j] * decay + update * x[offset + j];
      }
      if (p.fitIntercept) p.intercepts[k] += update;
      // NaN and ∞ survive the sum, so a non-finite update always reaches the health check.
      moved += Math.abs(update);
    }
    if (this.l1 > 0) {
      // u grows here, not in applyL1: a double passed to a call V8 does not inline is boxed,
      // 16 bytes per update (the allocation test caught it).
      this.penalty[0] += eta * this.l1;
      this.applyL1(w);
    }
    // |w'| ≤ |w|·decay + |update|·max|x| ≤ bound + moved·max(1, ‖x‖) (1 for the intercept);
    // the L1 step only shrinks. Decay is left out: the bound stays valid, only looser.
    this.health += moved * Math.max(1, p.inputNorm);
  }

  private applyL1(w: Float64Array): void {
    const u = this.penalty[0];
    const q = this.q;
    for (let i = 0; i < w.length; i++) {
      const z = w[i];
      if (z > 0) {
        w[i] = Math.max(0, z - (u + q[i]));
      } else if (z < 0) {
        w[i] = Math.min(0, z + (u - q[i]));
      }
      q[i] += w[i] - z;
    }
  }

  override exportScalars(): Record<string, number> {
    return this.l1 > 0 ? { u: this.penalty[0] } : {};
  }

  protected override loadScalars(scalars: Record<string, number>): void {
    if (this.l1 <= 0) return;
    const u = scalars.u;
    if (typeof u !== 'number' || !Number.isFinite(u) || u < 0) {
      throw new LearnerError('BAD_CONFIG', 'SGD with L1 needs a finite, non-negative scalar u');
    }
    this.penalty[0] = u;
  }

  override save(): void {
    super.save();
    this.penalty[1] = this.penalty[0];
  }

  override rollback(): void {
    super.rollback();
    this.penalty[0] = this.penalty[1];
  }
}
