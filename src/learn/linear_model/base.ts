/**
 * The core shared by every linear head: scores = W·x + b, a {@link Loss} that turns scores
 * into a gradient, and an {@link Optimizer} that applies it. Logistic, softmax and linear
 * regression differ only in their loss, their number of outputs and how labels map to
 * targets, so they are thin subclasses (`logistic.ts`, `softmax.ts`, `linear.ts`).
 *
 * Guarantees (design invariant 5):
 * - Bad input changes nothing. Labels are checked before any arithmetic. Features are
 *   checked for free: a NaN or ±∞ feature makes the score non-finite (weights are always
 *   finite), so only then do we scan x to say which feature is bad; plain arrays, which may
 *   hold anything, are scanned up front. Both happen before the first write.
 * - Non-finite weights are never served. Every update leaves a cheap health value (see
 *   {@link Optimizer.health}); only if it is out of range do we scan the weights and, if any
 *   is NaN or ±∞, restore the last checkpoint and throw `NON_FINITE`. Checkpoints are
 *   refreshed every {@link CHECKPOINT_EVERY} updates into preallocated buffers, so they cost
 *   O(weights / 256) per update and allocate nothing.
 * - Nothing is allocated per update: scratch buffers are preallocated, labels map to indices
 *   by `===` (see `labels.ts`), and computed doubles are handed over in fields rather than
 *   return values (a double returned from a call V8 does not inline gets boxed);
 *   `test/unit/learn/allocation.test.ts` checks this with V8's sampling heap profiler.
 * - Exact resume: the state holds everything the update reads (weights, optimizer slots and
 *   scalars, the update count), so `restoreHead(head.exportState())` continues with
 *   bit-identical weights.
 *
 * `partialFitMany` is atomic: it checkpoints first, and a bad row (or divergence) anywhere in
 * the batch restores the state from before the batch.
 *
 * ```ts
 * import { createHead } from '../index.ts';
 * const head = createHead({ task: 'binary', dim: 2 });
 * head.partialFitMany(Float64Array.of(1, 0, 0, 1), [1, 0]);
 * head.partialFit(Float64Array.of(1, 0), 1);
 * head.score(Float64Array.of(1, 0)); // P(class 1) > 0.5
 * ```
 */
import { LearnerError } from '../../errors.ts';
import { batchRows } from '../batch.ts';
import type { SingleConfig } from '../config.ts';
import type { Loss } from '../losses.ts';
import { createOptimizer } from '../optim/index.ts';
import { type Optimizer, type Params, SAFE_BOUND } from '../optim/optimizer.ts';
import type { Head, HeadState, Label, Task, Vector } from '../types.ts';

/** Updates between checkpoints of the last good state. */
export const CHECKPOINT_EVERY = 256;

const OK = 0;
const BAD_FEATURES = 1;
const DIVERGED = 2;

/** Typed float arrays can only hold numbers, so they can skip the up-front scan. */
function isFloatArray(x: Vector): boolean {
  return x instanceof Float64Array || x instanceof Float32Array;
}

/** Index of the first entry of row [offset, offset + d) that is not a finite number, or −1. */
function firstBadFeature(x: Vector, offset: number, d: number): number {
  for (let j = 0; j < d; j++) {
    const v = x[offset + j];
    if (typeof v !== 'number' || !Number.isFinite(v)) return j;
  }
  return -1;
}

/** max(start, max_i |a_i|), NaN if any entry is NaN. */
function maxAbs(a: Float64Array, start: number): number {
  let max = start;
  for (let i = 0; i < a.length; i++) {
    const v = Math.abs(a[i]);
    if (v > max) max = v;
    else if (Number.isNaN(v)) return v;
  }
  return max;
}

function badMultiplier(value: unknown): never {
  throw new LearnerError(
    'BAD_CONFIG',
    `the learning-rate multiplier must be a finite number > 0, got ${String(value)}`,
  );
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

export abstract class LinearModel implements Head, Params {
  readonly task: Task;
  readonly dim: number;
  readonly outputs: number;
  readonly classes: readonly (string | number)[];
  readonly fitIntercept: boolean;
  readonly weights: Float64Array;
  readonly intercepts: Float64Array;

  /** Raw scores of the last forward pass; read by subclasses right after {@link computeScores}. */
  protected readonly scores: Float64Array;
  private readonly grad: Float64Array;
  private readonly config: SingleConfig;
  private readonly lossFn: Loss;
  private readonly optimizer: Optimizer;
  private t = 0;
  /** Internal: ‖x‖₂ of the last forward pass, read by SGD's health bound (see Params). */
  inputNorm = 0;
  /**
   * Internal, for a mixture (`../mixture/`): when set, every update leaves the loss of the
   * model *before* it in `lastLoss[0]` (a typed array, not a return value: no boxed double).
   */
  trackLoss = false;
  readonly lastLoss = new Float64Array(1);

  private readonly savedWeights: Float64Array;
  private readonly savedIntercepts: Float64Array;
  private savedT = 0;
  private sinceCheckpoint = 0;

  protected constructor(config: SingleConfig, loss: Loss, outputs: number) {
    this.config = config;
    this.task = config.task;
    this.dim = config.dim;
    this.outputs = outputs;
    this.classes = Object.freeze([...config.classes]);
    this.fitIntercept = config.fitIntercept;
    this.lossFn = loss;
    const size = outputs * config.dim;
    this.weights = new Float64Array(size);
    this.intercepts = new Float64Array(outputs);
    this.scores = new Float64Array(outputs);
    this.grad = new Float64Array(outputs);
    this.optimizer = createOptimizer(config.optimizer, config.l2, config.l1, size, outputs);
    this.savedWeights = new Float64Array(size);
    this.savedIntercepts = new Float64Array(outputs);
    this.checkpoint();
  }

  get updates(): number {
    return this.t;
  }

  get learningRateMultiplier(): number {
    return this.optimizer.rateScale[0];
  }

  get learningRateScale(): Float64Array {
    return this.optimizer.rateScale;
  }

  set learningRateMultiplier(value: number) {
    if (!(typeof value === 'number' && value > 0 && value < Number.POSITIVE_INFINITY)) {
      badMultiplier(value);
    }
    this.optimizer.rateScale[0] = value;
  }

  /** The class index (classification) or the target value (regression) of y; NaN if unusable. */
  protected abstract encode(y: Label): number;

  abstract score(x: Vector): number;
  abstract predictProba(x: Vector, out?: Float64Array): Float64Array;
  abstract predict(x: Vector): Label;

  partialFit(x: Vector, y: Label): void {
    const target = this.encode(y);
    if (Number.isNaN(target)) throw this.badLabel(y, '');
    this.checkLength(x, this.dim);
    if (!isFloatArray(x)) this.checkRow(x, 0, '');
    const status = this.learnRow(x, 0, target);
    if (status === BAD_FEATURES) this.checkRow(x, 0, ''); // throws, naming the feature
    if (status === DIVERGED) this.diverged('');
    if (++this.sinceCheckpoint >= CHECKPOINT_EVERY) this.checkpoint();
  }

  partialFitMany(xs: Vector, ys: ArrayLike<Label>): void {
    const d = this.dim;
    const n = batchRows(xs, ys, d);
    for (let i = 0; i < n; i++) {
      const target = this.encode(ys[i]);
      if (Number.isNaN(target)) throw this.badLabel(ys[i], `row ${i}: `);
    }
    if (!isFloatArray(xs)) for (let i = 0; i < n; i++) this.checkRow(xs, i * d, `row ${i}: `);
    this.checkpoint();
    for (let i = 0; i < n; i++) {
      const status = this.learnRow(xs, i * d, this.encode(ys[i]));
      if (status !== OK) {
        this.rollback();
        if (status === BAD_FEATURES) this.checkRow(xs, i * d, `row ${i}: `);
        this.diverged(`row ${i}: `);
      }
    }
    this.sinceCheckpoint = n;
    if (this.sinceCheckpoint >= CHECKPOINT_EVERY) this.checkpoint();
  }

  candidates(): { name: string; weight: number }[] {
    return [{ name: this.config.optimizer.kind, weight: 1 }];
  }

  leaderName(): undefined {
    return undefined;
  }

  loss(x: Vector, y: Label): number {
    const target = this.encode(y);
    if (Number.isNaN(target)) throw this.badLabel(y, '');
    this.computeScores(x);
    return this.lossFn.value(this.scores, target);
  }

  exportState(): HeadState {
    const c = this.config;
    return {
      config: {
        task: c.task,
        dim: c.dim,
        classes: [...c.classes],
        optimizer: { ...c.optimizer },
        l2: c.l2,
        l1: c.l1,
        fitIntercept: c.fitIntercept,
      },
      weights: this.weights.slice(),
      intercepts: this.intercepts.slice(),
      slots: this.optimizer.exportSlots(),
      t: this.t,
      scalars: this.optimizer.exportScalars(),
    };
  }

  /** Loads the learned part of a state whose config built this head; BAD_CONFIG on a mismatch. */
  load(state: HeadState): void {
    const size = this.outputs * this.dim;
    const check = (array: unknown, length: number, name: string) => {
      if (!(array instanceof Float64Array) || array.length !== length) {
        throw new LearnerError('BAD_CONFIG', `state.${name} must be a Float64Array(${length})`);
      }
      if (!array.every(Number.isFinite)) {
        throw new LearnerError('BAD_CONFIG', `state.${name} holds non-finite values`);
      }
    };
    check(state.weights, size, 'weights');
    check(state.intercepts, this.outputs, 'intercepts');
    if (!Number.isSafeInteger(state.t) || state.t < 0) {
      throw new LearnerError(
        'BAD_CONFIG',
        `state.t must be a non-negative integer, got ${state.t}`,
      );
    }
    this.optimizer.load(state.slots, state.scalars);
    this.weights.set(state.weights);
    this.intercepts.set(state.intercepts);
    this.t = state.t;
    this.optimizer.health = this.maxAbsParameter();
    this.checkpoint();
  }

  /**
   * Computes {@link scores} for a prediction, throwing BAD_INPUT for a wrong length, a
   * non-finite feature, or features so large that the score overflows.
   */
  protected computeScores(x: Vector): void {
    this.checkLength(x, this.dim);
    if (!isFloatArray(x)) this.checkRow(x, 0, '');
    if (!this.forward(x, 0)) {
      this.checkRow(x, 0, '');
      throw new LearnerError('BAD_INPUT', 'the features are so large that the score overflows');
    }
  }

  /** One update, or a status saying why not. Writes nothing unless it returns OK or DIVERGED. */
  private learnRow(x: Vector, offset: number, target: number): number {
    if (!this.forward(x, offset) && firstBadFeature(x, offset, this.dim) >= 0) return BAD_FEATURES;
    if (this.trackLoss) this.lossFn.valueInto(this.scores, target, this.lastLoss);
    this.lossFn.gradient(this.scores, target, this.grad);
    const t = this.t + 1;
    this.optimizer.step(this, x, offset, this.grad, t);
    this.t = t;
    if (this.optimizer.health < SAFE_BOUND) return OK;
    const max = this.maxAbsParameter();
    if (!Number.isFinite(max)) return DIVERGED;
    this.optimizer.health = max;
    return OK;
  }

  /** scores = W·x + b for the row at `offset`; false if any score is not finite. */
  private forward(x: Vector, offset: number): boolean {
    const d = this.dim;
    const w = this.weights;
    const s = this.scores;
    // ‖x‖² rides along in the first row's loop: an independent, branch-free chain, so nearly
    // free; ‖x‖₂ ≥ max |x_j| is all SGD's weight bound needs.
    let dot = 0;
    let squares = 0;
    if (offset === 0) {
      // Plain indices let V8 drop bounds checks on the per-event path.
      for (let j = 0; j < d; j++) {
        const v = x[j];
        dot += w[j] * v;
        squares += v * v;
      }
    } else {
      for (let j = 0; j < d; j++) {
        const v = x[offset + j];
        dot += w[j] * v;
        squares += v * v;
      }
    }
    this.inputNorm = Math.sqrt(squares);
    s[0] = dot + this.intercepts[0];
    let finite = Number.isFinite(s[0]);
    for (let k = 1; k < this.outputs; k++) {
      const row = k * d;
      dot = 0;
      for (let j = 0; j < d; j++) dot += w[row + j] * x[offset + j];
      s[k] = dot + this.intercepts[k];
      if (!Number.isFinite(s[k])) finite = false;
    }
    return finite;
  }

  private maxAbsParameter(): number {
    return maxAbs(this.intercepts, maxAbs(this.weights, 0));
  }

  private checkpoint(): void {
    this.savedWeights.set(this.weights);
    this.savedIntercepts.set(this.intercepts);
    this.optimizer.save();
    this.savedT = this.t;
    this.sinceCheckpoint = 0;
  }

  private rollback(): void {
    this.weights.set(this.savedWeights);
    this.intercepts.set(this.savedIntercepts);
    this.optimizer.rollback();
    this.t = this.savedT;
    this.optimizer.health = this.maxAbsParameter();
    this.sinceCheckpoint = 0;
  }

  private diverged(where: string): never {
    this.rollback();
    throw new LearnerError(
      'NON_FINITE',
      `${where}the update made the weights non-finite (learning rate too large?); ` +
        `restored the state after update ${this.t}`,
    );
  }

  private checkLength(x: Vector, d: number): void {
    if (x?.length !== d) {
      throw new LearnerError('BAD_INPUT', `expected ${d} features, got ${x?.length}`);
    }
  }

  /** Throws BAD_INPUT naming the first feature of the row that is not a finite number. */
  private checkRow(x: Vector, offset: number, where: string): void {
    const j = firstBadFeature(x, offset, this.dim);
    if (j >= 0) {
      throw new LearnerError('BAD_INPUT', `${where}feature ${j} is ${describe(x[offset + j])}`);
    }
  }

  private badLabel(y: unknown, where: string): LearnerError {
    if (this.task === 'regression') {
      return new LearnerError(
        'BAD_LABEL',
        `${where}a regression target must be a finite number, got ${describe(y)}`,
      );
    }
    return new LearnerError(
      'BAD_LABEL',
      `${where}unknown class ${describe(y)}; this head knows ${this.classes.map(describe).join(', ')}`,
    );
  }
}
