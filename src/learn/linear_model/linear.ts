/**
 * Linear regression: ŷ = w·x + b, trained on squared error (the gradient of ½(ŷ − y)², as
 * scikit-learn's SGDRegressor). Defaults are SGDRegressor's: SGD with 'invscaling',
 * eta0 = 0.01, powerT = 0.25, l2 = 1e-4. Squared loss has an unbounded gradient, so with
 * unscaled features or a large learning rate it can diverge; the core then restores the
 * last good weights and throws `NON_FINITE`. Put a `StandardScaler` in front.
 *
 * ```ts
 * import { createHead } from '../index.ts';
 * const head = createHead({ task: 'regression', dim: 1 });
 * for (let i = 0; i < 5000; i++) head.partialFit([(i % 5) - 2], 3 * ((i % 5) - 2) + 1);
 * head.predict([1]); // ≈ 4
 * ```
 */
import { LearnerError } from '../../errors.ts';
import type { SingleConfig } from '../config.ts';
import { SquaredLoss } from '../losses.ts';
import type { Label, Vector } from '../types.ts';
import { LinearModel } from './base.ts';

export class LinearRegression extends LinearModel {
  constructor(config: SingleConfig) {
    super(config, SquaredLoss, 1);
  }

  protected encode(y: Label): number {
    return typeof y === 'number' && Number.isFinite(y) ? y : Number.NaN;
  }

  score(x: Vector): number {
    this.computeScores(x);
    return this.scores[0];
  }

  predictProba(): Float64Array {
    throw new LearnerError('BAD_CONFIG', 'a regression head has no class probabilities');
  }

  predict(x: Vector): Label {
    return this.score(x);
  }
}
