/**
 * Multinomial (softmax) logistic regression: one weight row per class, P(k | x) ∝ exp(w_k·x
 * + b_k), trained on cross-entropy. Unlike scikit-learn's SGDClassifier, which trains one
 * binary model per class (one-vs-rest), all rows learn from every example and the
 * probabilities are calibrated against each other.
 *
 * Note that 'optimal' SGD was derived for one strongly convex objective; it works well here
 * too because each row's gradient is bounded like the binary log loss's.
 *
 * ```ts
 * import { createHead } from '../index.ts';
 * const head = createHead({ task: 'multiclass', dim: 2, classes: ['r', 'g', 'b'] });
 * const points = [[1, 0], [0, 1], [-1, -1]];
 * for (let i = 0; i < 900; i++) head.partialFit(points[i % 3], ['r', 'g', 'b'][i % 3]);
 * head.predict([0, 1]); // 'g'
 * ```
 */
import { LearnerError } from '../../errors.ts';
import type { SingleConfig } from '../config.ts';
import { ClassIndex } from '../labels.ts';
import { CrossEntropy } from '../losses.ts';
import type { Label, Vector } from '../types.ts';
import { LinearModel } from './base.ts';

export class SoftmaxRegression extends LinearModel {
  private readonly index: ClassIndex;

  constructor(config: SingleConfig) {
    super(config, CrossEntropy, config.classes.length);
    this.index = new ClassIndex(config.classes, false);
  }

  protected encode(y: Label): number {
    return this.index.indexOf(y);
  }

  /** The probability of the most likely class. */
  score(x: Vector): number {
    this.computeScores(x);
    const s = this.scores;
    let max = s[0];
    for (let k = 1; k < s.length; k++) if (s[k] > max) max = s[k];
    let sum = 0;
    for (let k = 0; k < s.length; k++) sum += Math.exp(s[k] - max);
    return 1 / sum;
  }

  predictProba(x: Vector, out?: Float64Array): Float64Array {
    const k = this.outputs;
    if (out !== undefined && !(out instanceof Float64Array && out.length >= k)) {
      throw new LearnerError('BAD_INPUT', `predictProba needs a Float64Array of at least ${k}`);
    }
    this.computeScores(x);
    const result = out ?? new Float64Array(k);
    const s = this.scores;
    let max = s[0];
    for (let i = 1; i < k; i++) if (s[i] > max) max = s[i];
    let sum = 0;
    for (let i = 0; i < k; i++) {
      result[i] = Math.exp(s[i] - max);
      sum += result[i];
    }
    for (let i = 0; i < k; i++) result[i] /= sum;
    return result;
  }

  /** The most likely class; ties go to the first, like numpy's argmax. */
  predict(x: Vector): Label {
    this.computeScores(x);
    const s = this.scores;
    let best = 0;
    for (let k = 1; k < s.length; k++) if (s[k] > s[best]) best = k;
    return this.classes[best];
  }
}
