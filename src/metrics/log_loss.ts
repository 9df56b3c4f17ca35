/**
 * Prequential log loss: the mean of −log p, p being the probability the model gave the label
 * that actually followed. p is clipped to [1e-15, 1 − 1e-15] as scikit-learn's `log_loss`
 * does, so one confident mistake costs about 34.5 instead of ∞ and the mean stays usable.
 *
 * ```ts
 * import { LogLoss } from './log_loss.ts';
 * const loss = new LogLoss();
 * loss.update(0.5);
 * loss.get(); // Math.log(2)
 * ```
 */
export const LOG_LOSS_EPS = 1e-15;

export class LogLoss {
  private n = 0;
  private sum = 0;

  /** `p`: the probability the model assigned to the true label. */
  update(p: number): void {
    const clipped = Math.min(1 - LOG_LOSS_EPS, Math.max(LOG_LOSS_EPS, p));
    this.n++;
    this.sum -= Math.log(clipped);
  }

  /** null before the first update. */
  get(): number | null {
    return this.n === 0 ? null : this.sum / this.n;
  }
}
