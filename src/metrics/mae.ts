/**
 * Prequential mean absolute error of regression predictions.
 *
 * ```ts
 * import { Mae } from './mae.ts';
 * const mae = new Mae();
 * mae.update(1, 3);
 * mae.update(1, 1);
 * mae.get(); // 1
 * ```
 */
export class Mae {
  private n = 0;
  private sum = 0;

  update(truth: number, predicted: number): void {
    this.n++;
    this.sum += Math.abs(predicted - truth);
  }

  /** null before the first update. */
  get(): number | null {
    return this.n === 0 ? null : this.sum / this.n;
  }
}
