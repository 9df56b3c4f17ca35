/**
 * Learning-rate schedules for plain SGD, matching scikit-learn's `SGDClassifier` /
 * `SGDRegressor(learning_rate=…)` so that settings tuned there carry over. `t` is the number
 * of the update being made, starting at 1.
 *
 * - `constant`: η = eta0.
 * - `invscaling`: η = eta0 / t^powerT (SGDRegressor's default, with eta0 = 0.01, powerT = 0.25).
 * - `optimal`: η = 1 / (α·(t0 + t − 1)), Bottou's schedule for SGD on a λ-strongly convex
 *   objective ("Stochastic Gradient Descent Tricks", 2012), as scikit-learn implements it:
 *   α is the total regularisation strength and t0 is chosen so that the first step has the
 *   size of a "typical" weight, typw = sqrt(1 / sqrt(α)). It needs α > 0 and no eta0.
 *
 * ```ts
 * import { createSchedule } from './schedules.ts';
 * const s = createSchedule({ schedule: 'optimal', eta0: 0, powerT: 0.5 }, 1e-4);
 * s.eta(1); // typw = sqrt(1 / sqrt(1e-4)) = 10
 * s.eta(1001); // 5: t0 = 1 / (typw·α) = 1000, so the rate halves after 1000 steps
 * ```
 */
import { LearnerError } from '../../errors.ts';
import type { Schedule } from '../types.ts';

export interface LearningRate {
  eta(t: number): number;
}

class Constant implements LearningRate {
  private readonly eta0: number;
  constructor(eta0: number) {
    this.eta0 = eta0;
  }
  eta(_t: number): number {
    return this.eta0;
  }
}

class InvScaling implements LearningRate {
  private readonly eta0: number;
  private readonly powerT: number;
  constructor(eta0: number, powerT: number) {
    this.eta0 = eta0;
    this.powerT = powerT;
  }
  eta(t: number): number {
    return this.eta0 / t ** this.powerT;
  }
}

class Optimal implements LearningRate {
  private readonly t0: number;
  private readonly alpha: number;
  constructor(alpha: number) {
    this.alpha = alpha;
    // scikit-learn: initial_eta0 = typw / max(1, dloss(−typw, 1)). For log, cross-entropy and
    // squared loss that derivative is negative, so the max is 1 and η at t = 1 equals typw.
    const typw = Math.sqrt(1 / Math.sqrt(alpha));
    this.t0 = 1 / (typw * alpha);
  }
  eta(t: number): number {
    return 1 / (this.alpha * (this.t0 + t - 1));
  }
}

export function createSchedule(
  config: { schedule: Schedule; eta0: number; powerT: number },
  alpha: number,
): LearningRate {
  switch (config.schedule) {
    case 'constant':
      return new Constant(config.eta0);
    case 'invscaling':
      return new InvScaling(config.eta0, config.powerT);
    case 'optimal':
      if (!(alpha > 0)) {
        throw new LearnerError(
          'BAD_CONFIG',
          "the 'optimal' schedule needs a positive regularisation strength (l2 + l1 > 0)",
        );
      }
      return new Optimal(alpha);
    default:
      throw new LearnerError('BAD_CONFIG', `unknown schedule ${String(config.schedule)}`);
  }
}
