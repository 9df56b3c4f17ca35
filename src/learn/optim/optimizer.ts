/**
 * What the linear-model core needs from an optimizer: apply one update from the loss
 * gradient, and keep its accumulators ("slots") exportable, checkpointable and restorable
 * without allocating on the update path.
 *
 * Implementations: {@link SGD} (`sgd.ts`), {@link AdaGrad} (`adagrad.ts`), {@link FTRL}
 * (`ftrl.ts`). They are created by the heads from an `OptimizerConfig`; use them directly
 * only to build a new kind of head:
 *
 * ```ts
 * import { createOptimizer } from './index.ts';
 * const opt = createOptimizer({ kind: 'adagrad', eta0: 0.1, epsilon: 1e-8 }, 1e-4, 0, 1, 3);
 * opt.config.kind; // 'adagrad'
 * ```
 */
import { LearnerError } from '../../errors.ts';
import type { SingleOptimizerConfig, Vector } from '../types.ts';

/** The parameters an optimizer updates in place (a head's weights, row-major outputs × dim). */
export interface Params {
  readonly dim: number;
  readonly outputs: number;
  readonly weights: Float64Array;
  readonly intercepts: Float64Array;
  readonly fitIntercept: boolean;
  /** ‖x‖₂ of the example being learned, an upper bound on max_j |x_j|. */
  readonly inputNorm: number;
}

/**
 * Health values at or above this are re-checked by a full scan of the weights. It is far
 * enough below the largest double that a bound under it cannot hide an overflow.
 */
export const SAFE_BOUND = 1e300;

export abstract class Optimizer {
  /** The optimizer's settings with every default filled in (goes into `HeadState.config`). */
  abstract readonly config: Required<SingleOptimizerConfig>;
  private readonly names: string[];
  private readonly live: Float64Array[];
  private readonly backup: Float64Array[];

  protected constructor(slots: Record<string, Float64Array>) {
    this.names = Object.keys(slots);
    this.live = this.names.map((name) => slots[name]);
    this.backup = this.live.map((slot) => new Float64Array(slot.length));
  }

  /**
   * After each {@link step}: a value below {@link SAFE_BOUND} only if every weight and
   * intercept is still finite. This lets the core guard against divergence without an extra
   * pass per update: SGD keeps an upper bound on |parameter| that costs O(1) to maintain;
   * optimizers that touch every coordinate anyway store |Σ parameters|, which NaN and ∞
   * propagate into. The core resets it to the exact max |parameter| after a full scan.
   *
   * A field rather than a return value: a double returned from a call V8 does not inline is
   * boxed, i.e. allocated, and the update path must not allocate.
   */
  health = 0;

  /**
   * `[0]` multiplies the step size of every following {@link step} (1 by default; see
   * `Head.learningRateMultiplier`). A typed array the head hands out (`learningRateScale`),
   * so a caller can change it before every update without passing a double through a call.
   */
  readonly rateScale = new Float64Array([1]);

  /**
   * Applies one update. `grad[k]` is ∂loss/∂score_k and `t` the 1-based number of this
   * update; then sets {@link health}.
   */
  abstract step(p: Params, x: Vector, offset: number, grad: Float64Array, t: number): void;

  exportSlots(): Record<string, Float64Array> {
    const out: Record<string, Float64Array> = {};
    for (let i = 0; i < this.names.length; i++) out[this.names[i]] = this.live[i].slice();
    return out;
  }

  exportScalars(): Record<string, number> {
    return {};
  }

  /** Loads exported slots and scalars; throws BAD_CONFIG (and changes nothing) on a mismatch. */
  load(slots: Record<string, Float64Array>, scalars: Record<string, number>): void {
    const given = Object.keys(slots ?? {});
    if (given.length !== this.names.length || !this.names.every((n) => given.includes(n))) {
      throw new LearnerError(
        'BAD_CONFIG',
        `optimizer ${this.config.kind} expects slots [${this.names.join(', ')}], got [${given.join(', ')}]`,
      );
    }
    for (let i = 0; i < this.names.length; i++) {
      const slot = slots[this.names[i]];
      if (!(slot instanceof Float64Array) || slot.length !== this.live[i].length) {
        throw new LearnerError(
          'BAD_CONFIG',
          `slot ${this.names[i]} must be a Float64Array(${this.live[i].length})`,
        );
      }
      if (!slot.every(Number.isFinite)) {
        throw new LearnerError('BAD_CONFIG', `slot ${this.names[i]} holds non-finite values`);
      }
    }
    this.loadScalars(scalars ?? {});
    for (let i = 0; i < this.names.length; i++) this.live[i].set(slots[this.names[i]]);
    this.derive();
  }

  /** Rebuilds any cache derived from the slots, after they were loaded or rolled back. */
  protected derive(): void {}

  /** Validates and applies scalars; called by {@link load} after the slots check out. */
  protected loadScalars(_scalars: Record<string, number>): void {}

  /** Copies the accumulators aside (the core's last-good checkpoint). */
  save(): void {
    for (let i = 0; i < this.live.length; i++) this.backup[i].set(this.live[i]);
  }

  /** Returns to the state of the last {@link save}. */
  rollback(): void {
    for (let i = 0; i < this.live.length; i++) this.live[i].set(this.backup[i]);
    this.derive();
  }
}
