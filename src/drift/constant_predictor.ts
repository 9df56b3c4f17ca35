/**
 * The constant predictor, learned online: what a learner that ignores every feature would have
 * scored on each outcome, prequentially (the loss is taken before the outcome is counted). The
 * forgetting guard resets a device head only toward a baseline that beats this; a server head
 * that is no better than the label frequencies (a fresh head, say) is no place to go back to.
 *
 * - Classification: the Krichevsky–Trofimov estimator, p(c) = (n_c + ½) / (n + K/2) over the
 *   labels seen so far (Krichevsky & Trofimov 1981, "The performance of universal encoding",
 *   IEEE Trans. Inf. Theory 27(2)); its cumulative log loss is within ½ ln n + O(1) per class
 *   of the best constant chosen in hindsight, so it is the fair "no features" yardstick.
 * - Regression: the running mean of the targets so far (0 before the first), with its squared
 *   error: the best constant in hindsight, learned the same way.
 *
 * ```ts
 * import { ConstantPredictor } from './constant_predictor.ts';
 * const constant = new ConstantPredictor('binary', [0, 1]);
 * constant.loss(1); // ln 2 ≈ 0.693: nothing seen yet
 * constant.loss(1); // −ln(1.5 / 2) ≈ 0.288
 * ```
 */

import type { Label, Task } from '../learn/types.ts';
import { isPositive } from '../reporting/scored_outcome.ts';

export class ConstantPredictor {
  private readonly task: Task;
  private readonly classes: readonly (string | number)[];
  private readonly counts: Float64Array;
  private n = 0;
  private sum = 0;

  constructor(task: Task, classes: readonly (string | number)[] = [0, 1]) {
    this.task = task;
    this.classes = classes;
    this.counts = new Float64Array(task === 'multiclass' ? classes.length : 2);
  }

  /** The loss the constant predictor takes on `label`, then counts it. NaN for an unknown class. */
  loss(label: Label): number {
    if (this.task === 'regression') {
      const target = label as number;
      const mean = this.n > 0 ? this.sum / this.n : 0;
      this.n++;
      this.sum += target;
      return (target - mean) ** 2;
    }
    const index =
      this.task === 'binary'
        ? isPositive(label, this.classes)
          ? 1
          : 0
        : this.classes.indexOf(label as string | number);
    if (index < 0) return Number.NaN;
    const k = this.counts.length;
    const p = (this.counts[index] + 0.5) / (this.n + k / 2);
    this.counts[index]++;
    this.n++;
    return -Math.log(p);
  }
}
