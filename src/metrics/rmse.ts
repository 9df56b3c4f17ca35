/**
 * Prequential root mean squared error of regression predictions.
 *
 * ```ts
 * import { Rmse } from './rmse.ts';
 * const rmse = new Rmse();
 * rmse.update(1, 2);
 * rmse.update(1, 0);
 * rmse.get(); // 1
 * ```
 */
export class Rmse {
  private n = 0;
  private sum = 0;

  update(truth: number, predicted: number): void {
    const r = predicted - truth;
    this.n++;
    this.sum += r * r;
  }

  /** null before the first update. */
  get(): number | null {
    return this.n === 0 ? null : Math.sqrt(this.sum / this.n);
  }
}
