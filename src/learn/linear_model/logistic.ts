/**
 * Binary logistic regression: P(positive | x) = σ(w·x + b), trained on log loss. With the
 * default SGD settings (schedule 'optimal', l2 = 1e-4) it follows scikit-learn's
 * `SGDClassifier(loss="log_loss")` update for update (test/golden/sklearn_parity.py).
 *
 * Labels: `classes[0]` is the negative class, `classes[1]` the positive one (default [0, 1]);
 * `true`/`false` also mean positive/negative. As in scikit-learn, a score of exactly 0
 * predicts the negative class.
 *
 * ```ts
 * import { createHead } from '../index.ts';
 * const head = createHead({ task: 'binary', dim: 1, classes: ['stay', 'churn'] });
 * for (let i = 0; i < 500; i++) head.partialFit([i % 2 ? 1 : -1], i % 2 ? 'churn' : 'stay');
 * head.predict([1]); // 'churn'
 * head.predictProba([1]); // Float64Array [P(stay), P(churn)]
 * ```
 */
import { LearnerError } from '../../errors.ts';
import type { SingleConfig } from '../config.ts';
import { ClassIndex } from '../labels.ts';
import { LogLoss, sigmoid } from '../losses.ts';
import type { Label, Vector } from '../types.ts';
import { LinearModel } from './base.ts';

export class LogisticRegression extends LinearModel {
  private readonly index: ClassIndex;

  constructor(config: SingleConfig) {
    super(config, LogLoss, 1);
    this.index = new ClassIndex(config.classes, true);
  }

  protected encode(y: Label): number {
    return this.index.indexOf(y);
  }

  score(x: Vector): number {
    this.computeScores(x);
    return sigmoid(this.scores[0]);
  }

  predictProba(x: Vector, out?: Float64Array): Float64Array {
    if (out !== undefined && !(out instanceof Float64Array && out.length >= 2)) {
      throw new LearnerError('BAD_INPUT', 'predictProba needs a Float64Array of at least 2');
    }
    this.computeScores(x);
    const result = out ?? new Float64Array(2);
    // Each side from its own sigmoid, so a confident P(neg) keeps its precision.
    result[0] = sigmoid(-this.scores[0]);
    result[1] = sigmoid(this.scores[0]);
    return result;
  }

  predict(x: Vector): Label {
    this.computeScores(x);
    return this.classes[this.scores[0] > 0 ? 1 : 0];
  }
}
