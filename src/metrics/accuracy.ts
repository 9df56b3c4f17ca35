/**
 * Prequential accuracy: the share of predictions that matched the label that followed.
 *
 * ```ts
 * import { Accuracy } from './accuracy.ts';
 * const acc = new Accuracy();
 * acc.update('up', 'up');
 * acc.update('up', 'down');
 * acc.get(); // 0.5
 * ```
 */
export class Accuracy {
  private n = 0;
  private correct = 0;

  update(truth: unknown, predicted: unknown): void {
    this.n++;
    if (truth === predicted) this.correct++;
  }

  /** null before the first update. */
  get(): number | null {
    return this.n === 0 ? null : this.correct / this.n;
  }
}
