/**
 * The default head: K candidate linear heads (one optimizer each, `../linear_model/`) learn
 * every example on the same scaled features, and the head predicts their mixture with the
 * exponential weights of `exp_weights.ts`:
 *
 * - classification: P(y) = Σ π_k P_k(y), with π updated by Bayes' rule (η = 1) on each
 *   candidate's log loss, plus fixed share: cumulative log loss within ln K of the best
 *   candidate (plus the share's cost), whatever the stream, so a fresh head is as calm as its
 *   calmest candidate and, on Elec2, as sharp as SGD. The loss the weights learn from is that
 *   of the candidate's prediction smoothed towards uniform, (1 − ε) P_k(y) + ε/C (ε =
 *   `smoothing`, default 0.03): the bound then holds against the best smoothed candidate,
 *   which loses at most −ln(1 − ε) per outcome to the raw one, and a single saturated mistake
 *   costs at most ln(C/ε) nats. Measured: on Elec2, accuracy 0.8984 with ε = 0, 0.9026 with
 *   0.01, 0.9052 with 0.03 (SGD alone: 0.9065), log loss ≈ 0.267 (SGD alone: 0.350);
 * - regression: ŷ = Σ π_k ŷ_k, with π updated on squared error at η = 1/(2R²), R the range
 *   of the targets seen so far (exp-concavity of squared loss on an interval of width R).
 *
 * Why a mixture and not one optimizer: no single one is right on every stream (measured in
 * bench/quality_streams.ts: SGD with scikit-learn's 'optimal' schedule wins Elec2 and the
 * drifting RBF stream but saturates a fresh head, log loss > 4 nats over the first 500
 * outcomes; AdaGrad is calm from the first outcome and wins the synthetic drift streams).
 * Each update costs the sum of the candidates' updates: the scaled input is computed once by
 * the caller, and each candidate's loss comes from the forward pass its own update does
 * anyway (`LinearModel.trackLoss`), so the mixture adds O(K) per event.
 *
 * State: one `HeadState` whose config is the mixture's; weights, intercepts are the
 * candidates' concatenated in order; slots and scalars are the candidates', keyed
 * `<k>.<name>`, with `<k>.t` (the candidate's updates) and `<k>.weight` (π_k); regression
 * adds `range.low` / `range.high`. Restoring continues bit for bit.
 *
 * A candidate whose update diverges restores its own last checkpoint (as a single head does)
 * and the mixture goes on; its weight then falls by its losses.
 *
 * ```ts
 * import { createHead } from '../index.ts';
 * const head = createHead({ task: 'binary', dim: 2 }); // the default: a mixture
 * for (let i = 0; i < 200; i++) head.partialFit([i % 2 ? 1 : -1, 0.5], i % 2);
 * head.candidates()[0].name; // the leading candidate, e.g. 'adagrad'
 * ```
 */
import { isLearnerError, LearnerError } from '../../errors.ts';
import { batchRows } from '../batch.ts';
import type {
  ResolvedConfig,
  ResolvedMixture,
  ResolvedOptimizer,
  SingleConfig,
} from '../config.ts';
import { ClassIndex } from '../labels.ts';
import type { LinearModel } from '../linear_model/base.ts';
import type { Head, HeadState, Label, Task, Vector } from '../types.ts';
import { ExponentialWeights } from './exp_weights.ts';

export type MixtureConfig = ResolvedConfig & { optimizer: ResolvedMixture };

/** Builds one candidate from its single-optimizer config. */
export type CandidateFactory = (config: SingleConfig) => LinearModel;

/** Short names for the report: the kind, with the distinguishing setting when kinds repeat. */
function candidateNames(candidates: readonly ResolvedOptimizer[]): string[] {
  return candidates.map((c) => {
    const same = candidates.filter((o) => o.kind === c.kind).length > 1;
    if (!same) return c.kind;
    if (c.kind === 'sgd')
      return `sgd(${c.schedule}${c.schedule === 'optimal' ? '' : ` ${c.eta0}`})`;
    if (c.kind === 'adagrad') return `adagrad(${c.eta0})`;
    return `ftrl(${c.alpha})`;
  });
}

function badState(why: string): never {
  throw new LearnerError('BAD_CONFIG', `invalid mixture state: ${why}`);
}

export class MixtureHead implements Head {
  readonly task: Task;
  readonly dim: number;
  readonly outputs: number;
  readonly classes: readonly (string | number)[];
  readonly learningRateScale = new Float64Array([1]);
  readonly names: readonly string[];

  private models: LinearModel[];
  private readonly aggregate: ExponentialWeights;
  private readonly losses: Float64Array;
  private readonly proba: Float64Array;
  private readonly mixed: Float64Array;
  private readonly index: ClassIndex | undefined;
  private t = 0;
  /** Regression: the targets' range so far [low, high]; NaN before the first. */
  private readonly range = Float64Array.of(Number.NaN, Number.NaN);

  private readonly config: MixtureConfig;
  private readonly factory: CandidateFactory;

  constructor(config: MixtureConfig, factory: CandidateFactory) {
    this.config = config;
    this.factory = factory;
    this.task = config.task;
    this.dim = config.dim;
    this.classes = Object.freeze([...config.classes]);
    this.models = this.buildCandidates();
    this.outputs = this.models[0].outputs;
    this.names = Object.freeze(candidateNames(config.optimizer.candidates));
    const k = this.models.length;
    this.aggregate = new ExponentialWeights(k, config.optimizer.share);
    this.losses = new Float64Array(k);
    this.proba = new Float64Array(Math.max(2, this.outputs));
    this.mixed = new Float64Array(Math.max(2, this.outputs));
    this.index =
      this.task === 'regression' ? undefined : new ClassIndex(this.classes, this.task === 'binary');
  }

  /** The candidates' configs: the mixture's settings with one optimizer each. */
  candidateConfigs(): SingleConfig[] {
    return this.config.optimizer.candidates.map((optimizer) => ({ ...this.config, optimizer }));
  }

  private buildCandidates(): LinearModel[] {
    return this.candidateConfigs().map((c) => {
      const model = this.factory(c);
      model.trackLoss = true;
      return model;
    });
  }

  get updates(): number {
    return this.t;
  }

  get learningRateMultiplier(): number {
    return this.learningRateScale[0];
  }

  set learningRateMultiplier(value: number) {
    if (!(typeof value === 'number' && value > 0 && value < Number.POSITIVE_INFINITY)) {
      throw new LearnerError(
        'BAD_CONFIG',
        `the learning-rate multiplier must be a finite number > 0, got ${String(value)}`,
      );
    }
    this.learningRateScale[0] = value;
  }

  /** The candidates' current weights (π), in candidate order; read-only view. */
  get weights(): Float64Array {
    return this.aggregate.weights;
  }

  /** The index of the candidate with the largest weight. */
  get leader(): number {
    return this.aggregate.leader();
  }

  leaderName(): string | undefined {
    return this.names.length > 1 ? this.names[this.aggregate.leader()] : undefined;
  }

  candidates(): { name: string; weight: number }[] {
    return this.names
      .map((name, i) => ({ name, weight: this.aggregate.weights[i] }))
      .sort((a, b) => b.weight - a.weight);
  }

  partialFit(x: Vector, y: Label): void {
    const models = this.models;
    const k = models.length;
    const scale = this.learningRateScale[0];
    for (let i = 0; i < k; i++) {
      models[i].learningRateScale[0] = scale;
      try {
        models[i].partialFit(x, y);
      } catch (error) {
        // Bad input is refused by the first candidate before anything changed; a candidate that
        // diverged has restored its own checkpoint, and its loss still counts against it.
        if (!(isLearnerError(error) && error.code === 'NON_FINITE')) throw error;
      }
      this.losses[i] = models[i].lastLoss[0];
    }
    const eps = this.config.optimizer.smoothing;
    if (this.task !== 'regression' && eps > 0) {
      // Weights learn from the log loss of each candidate's prediction smoothed towards
      // uniform, (1 − ε)·P_k(y) + ε/C: bounded by ln(C/ε), so one saturated mistake of an
      // otherwise sharp candidate (SGD on Elec2) costs it a few nats, not eighteen.
      const c = Math.max(2, this.outputs);
      for (let i = 0; i < k; i++) {
        this.losses[i] = -Math.log((1 - eps) * Math.exp(-this.losses[i]) + eps / c);
      }
    }
    const rate = this.aggregate.rate;
    if (this.task === 'regression') {
      const range = this.range;
      const target = y as number;
      if (!(target >= range[0])) range[0] = target; // !(≥): the first target replaces NaN
      if (!(target <= range[1])) range[1] = target;
      const width = range[1] - range[0];
      // One distinct target so far: no scale yet, the weights stay.
      rate[0] = width > 0 ? 1 / (2 * width * width) : 0;
    }
    this.aggregate.update(this.losses);
    this.t++;
  }

  partialFitMany(xs: Vector, ys: ArrayLike<Label>): void {
    const d = this.dim;
    const n = batchRows(xs, ys, d);
    // Atomic: a bad row anywhere puts every candidate back as it was before the batch.
    const before = this.exportState();
    const row = new Float64Array(d);
    try {
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < d; j++) row[j] = xs[i * d + j] as number;
        this.partialFit(row, ys[i]);
      }
    } catch (error) {
      this.load(before);
      if (error instanceof LearnerError) {
        throw new LearnerError(error.code, `row ${this.failedRow(xs, ys)}: ${error.message}`);
      }
      throw error;
    }
  }

  private failedRow(xs: Vector, ys: ArrayLike<Label>): number {
    const d = this.dim;
    for (let i = 0; i < ys.length; i++) {
      if (this.task !== 'regression' && Number.isNaN(this.index!.indexOf(ys[i]))) return i;
      if (this.task === 'regression' && !(typeof ys[i] === 'number' && Number.isFinite(ys[i])))
        return i;
      for (let j = 0; j < d; j++) if (!Number.isFinite(xs[i * d + j])) return i;
    }
    return 0;
  }

  score(x: Vector): number {
    if (this.task === 'binary') {
      const pi = this.aggregate.weights;
      let p = 0;
      for (let i = 0; i < this.models.length; i++) p += pi[i] * this.models[i].score(x);
      return p;
    }
    if (this.task === 'regression') return this.mean(x);
    const p = this.mix(x);
    let best = p[0];
    for (let c = 1; c < this.outputs; c++) if (p[c] > best) best = p[c];
    return best;
  }

  predictProba(x: Vector, out?: Float64Array): Float64Array {
    if (this.task === 'regression') {
      throw new LearnerError('BAD_CONFIG', 'a regression head has no class probabilities');
    }
    const width = Math.max(2, this.outputs);
    if (out !== undefined && !(out instanceof Float64Array && out.length >= width)) {
      throw new LearnerError('BAD_INPUT', `predictProba needs a Float64Array of at least ${width}`);
    }
    const p = this.mix(x);
    const result = out ?? new Float64Array(width);
    for (let c = 0; c < width; c++) result[c] = p[c];
    return result;
  }

  predict(x: Vector): Label {
    if (this.task === 'regression') return this.mean(x);
    const p = this.mix(x);
    if (this.task === 'binary') return this.classes[p[1] > 0.5 ? 1 : 0];
    let best = 0;
    for (let c = 1; c < this.outputs; c++) if (p[c] > p[best]) best = c;
    return this.classes[best];
  }

  loss(x: Vector, y: Label): number {
    if (this.task === 'regression') {
      if (!(typeof y === 'number' && Number.isFinite(y))) {
        // The candidate's message: one wording for every head.
        this.models[0].loss(x, y);
      }
      const r = this.mean(x) - (y as number);
      return r * r;
    }
    const target = this.index!.indexOf(y);
    if (Number.isNaN(target)) this.models[0].loss(x, y); // throws BAD_LABEL
    const p = this.mix(x)[target];
    return -Math.log(Math.max(p, Number.MIN_VALUE));
  }

  /** Σ π_k P_k into `mixed` (classification). */
  private mix(x: Vector): Float64Array {
    const pi = this.aggregate.weights;
    const mixed = this.mixed;
    mixed.fill(0);
    const width = mixed.length;
    for (let i = 0; i < this.models.length; i++) {
      this.models[i].predictProba(x, this.proba);
      for (let c = 0; c < width; c++) mixed[c] += pi[i] * this.proba[c];
    }
    return mixed;
  }

  /** Σ π_k ŷ_k (regression). */
  private mean(x: Vector): number {
    const pi = this.aggregate.weights;
    let y = 0;
    for (let i = 0; i < this.models.length; i++) y += pi[i] * this.models[i].score(x);
    return y;
  }

  exportState(): HeadState {
    const parts = this.models.map((m) => m.exportState());
    const slots: Record<string, Float64Array> = {};
    const scalars: Record<string, number> = {};
    parts.forEach((part, k) => {
      for (const [name, slot] of Object.entries(part.slots)) slots[`${k}.${name}`] = slot;
      for (const [name, value] of Object.entries(part.scalars)) scalars[`${k}.${name}`] = value;
      scalars[`${k}.t`] = part.t;
      scalars[`${k}.weight`] = this.aggregate.weights[k];
    });
    if (this.task === 'regression' && this.range[0] <= this.range[1]) {
      scalars['range.low'] = this.range[0];
      scalars['range.high'] = this.range[1];
    }
    const c = this.config;
    return {
      config: {
        task: c.task,
        dim: c.dim,
        classes: [...c.classes],
        optimizer: {
          kind: 'mixture',
          candidates: c.optimizer.candidates.map((o) => ({ ...o })),
          share: c.optimizer.share,
          smoothing: c.optimizer.smoothing,
        },
        l2: c.l2,
        l1: c.l1,
        fitIntercept: c.fitIntercept,
      },
      weights: concat(parts.map((p) => p.weights)),
      intercepts: concat(parts.map((p) => p.intercepts)),
      slots,
      t: this.t,
      scalars,
    };
  }

  /** Loads a state this mixture's config exported; BAD_CONFIG (nothing changed) on a mismatch. */
  load(state: HeadState): void {
    const configs = this.candidateConfigs();
    const k = configs.length;
    if (!(state.weights instanceof Float64Array) || !(state.intercepts instanceof Float64Array))
      badState('weights and intercepts must be Float64Arrays');
    const size = this.outputs * this.dim;
    if (state.weights.length !== k * size || state.intercepts.length !== k * this.outputs)
      badState(`expected ${k} candidates of ${size} weights`);
    if (!Number.isSafeInteger(state.t) || state.t < 0) badState('t');
    const scalars = state.scalars ?? {};
    const owned = (name: string) => {
      const dot = name.indexOf('.');
      const i = dot > 0 ? Number(name.slice(0, dot)) : Number.NaN;
      return (
        (Number.isInteger(i) && i >= 0 && i < k) || name === 'range.low' || name === 'range.high'
      );
    };
    for (const name of [...Object.keys(state.slots ?? {}), ...Object.keys(scalars)]) {
      if (!owned(name)) badState(`'${name}' belongs to no candidate`);
    }
    const weights = configs.map((_, i) => scalars[`${i}.weight`]);
    const fresh = this.buildCandidates();
    fresh.forEach((model, i) => {
      const prefix = `${i}.`;
      const pick = <T>(record: Record<string, T>) =>
        Object.fromEntries(
          Object.entries(record ?? {})
            .filter(
              ([name]) => name.startsWith(prefix) && name !== `${i}.t` && name !== `${i}.weight`,
            )
            .map(([name, value]) => [name.slice(prefix.length), value]),
        );
      model.load({
        config: state.config,
        weights: state.weights.subarray(i * size, (i + 1) * size),
        intercepts: state.intercepts.subarray(i * this.outputs, (i + 1) * this.outputs),
        slots: pick(state.slots),
        t: scalars[`${i}.t`],
        scalars: pick(scalars),
      });
    });
    let low = Number.NaN;
    let high = Number.NaN;
    if ('range.low' in scalars) {
      low = scalars['range.low'];
      high = scalars['range.high'];
      if (!(Number.isFinite(low) && Number.isFinite(high) && low <= high)) badState('range');
    }
    this.aggregate.load(weights);
    this.models = fresh;
    this.t = state.t;
    this.range[0] = low;
    this.range[1] = high;
  }
}

function concat(arrays: readonly Float64Array[]): Float64Array {
  const out = new Float64Array(arrays.reduce((n, a) => n + a.length, 0));
  let offset = 0;
  for (const a of arrays) {
    out.set(a, offset);
    offset += a.length;
  }
  return out;
}
