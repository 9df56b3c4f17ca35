/**
 * The forgetting guard: online learning on a device can drift *away* from what works, e.g.
 * after a burst of unrepresentative outcomes or a learning rate raised too far (catastrophic
 * forgetting, in the sense of McCloskey & Cohen, 1989). The version's server head, the head
 * the device started from, is kept as a shadow baseline; every outcome is scored by the device
 * head, by the baseline and by the constant predictor (src/drift/constant_predictor.ts), all
 * *before* the device head learns it, and the guard resets the device head to the baseline
 * only on evidence of two things at once:
 *
 * 1. the device head is worse than the baseline: on the paired differences
 *    d = loss(device) − loss(baseline) (both heads see the same outcomes, so the outcomes' own
 *    noise cancels), the anytime-valid confidence sequence of src/rollout/confidence_sequence.ts
 *    has its lower bound above `margin`;
 * 2. the baseline is worth going back to: on e = loss(baseline) − loss(constant), the upper
 *    bound is below 0. A baseline no better than the label frequencies (a fresh head, or a
 *    server head for other users) is never reset to.
 *
 * Why a confidence sequence: the guard looks after every outcome, for the whole life of the
 * device. A fixed-n test checked that way fires far more often than its nominal level; the
 * sequence's bound holds at every n at once. The guard restarts its sequences every `epoch`
 * outcomes (so an old good stretch cannot mask a recent bad one) and after each reset, and
 * gives the k-th sequence the level α / (k (k + 1)): these sum to α, so over the device's
 * whole life the chance of any reset while the device head is no worse than the baseline by
 * `margin` is at most α (for the guard's inputs as the sequence's validity conditions allow).
 * What it learned carries over each restart and reset: the spent level (later verdicts need
 * more evidence) and the pooled variance of d and e, a floor under a new sequence's short-run
 * estimate (which underestimates a skewed loss's variance).
 *
 * Parameters:
 * - `alpha` (default 0.05): the lifetime chance of a needless reset, as above.
 * - `margin` (default 0): how much worse per outcome (nats for log loss, squared units for
 *   squared error) the device head may be before a reset counts as called for.
 * - `epoch` (default 1,000): outcomes per sequence before it restarts; also where each
 *   sequence is tightest (`rhoFor(epoch / 2, α_k)`).
 * - `minOutcomes` (default 100): no verdict on fewer outcomes in the current sequence.
 *
 * Constant work per outcome, no allocation except the verdict, state of a few numbers.
 *
 * ```ts
 * import { ForgettingGuard } from './forgetting_guard.ts';
 * const guard = new ForgettingGuard({ epoch: 500 });
 * let verdict = null;
 * for (let i = 0; !verdict && i < 2000; i++) {
 *   // The device head 0.3 nats worse than a baseline that beats the constant by 0.2.
 *   verdict = guard.observe(0.7 + 0.1 * Math.sin(i), 0.4 + 0.1 * Math.cos(i), 0.6);
 * }
 * verdict?.difference; // ≈ 0.3, found within the first few hundred outcomes
 * ```
 */
import { LearnerError } from '../errors.ts';
import type { StreamMoments } from '../rollout/confidence_sequence.ts';
import { confidenceSequence, rhoFor } from '../rollout/confidence_sequence.ts';

export interface ForgettingGuardOptions {
  alpha?: number;
  margin?: number;
  epoch?: number;
  minOutcomes?: number;
}

/** A call for a reset, with the evidence for the report. */
export interface ForgettingVerdict {
  /** The outcome (0-based, counted since the guard was created) that completed the evidence. */
  at: number;
  /** Outcomes compared in the sequence that decided. */
  n: number;
  deviceMean: number;
  baselineMean: number;
  constantMean: number;
  /** deviceMean − baselineMean. */
  difference: number;
  /** The confidence sequence's lower bound on the difference (> margin). */
  lower: number;
  margin: number;
  /** The sequence's number k (1-based) and its level α / (k (k + 1)). */
  sequence: number;
  level: number;
}

export interface ForgettingGuardState {
  kind: 'forgetting-guard-cs';
  options: Required<ForgettingGuardOptions>;
  /** The current sequence: Σ device, Σ baseline, Σ constant, and moments of d and e. */
  current: {
    n: number;
    device: number;
    baseline: number;
    constant: number;
    d: Moments;
    e: Moments;
  };
  /** Every outcome so far, for the pooled variances. */
  pooled: { d: Moments; e: Moments };
  sequence: number;
  n: number;
  resets: number;
}

type Moments = StreamMoments;

function checkLoss(loss: number): void {
  if (typeof loss !== 'number' || !Number.isFinite(loss) || loss < 0) {
    throw new LearnerError(
      'BAD_INPUT',
      `the forgetting guard needs finite, non-negative losses, got ${loss}`,
    );
  }
}

function badConfig(why: string, value: unknown): never {
  throw new LearnerError('BAD_CONFIG', `forgetting guard: ${why}, got ${String(value)}`);
}

const empty = (): Moments => ({ n: 0, sum: 0, sumSq: 0 });

function add(m: Moments, x: number): void {
  m.n++;
  m.sum += x;
  m.sumSq += x * x;
}

/** The sample variance of `m` (0 before two values). */
function variance(m: Moments): number {
  return m.n > 1 ? Math.max(0, m.sumSq - (m.sum * m.sum) / m.n) / (m.n - 1) : 0;
}

export class ForgettingGuard {
  private readonly options: Required<ForgettingGuardOptions>;
  private current = { n: 0, device: 0, baseline: 0, constant: 0, d: empty(), e: empty() };
  private readonly pooled = { d: empty(), e: empty() };
  private sequence = 1;
  private seen = 0;
  private found = 0;

  constructor(options: ForgettingGuardOptions = {}) {
    const o = {
      alpha: options.alpha ?? 0.05,
      margin: options.margin ?? 0,
      epoch: options.epoch ?? 1000,
      minOutcomes: options.minOutcomes ?? 100,
    };
    if (!(o.alpha > 0 && o.alpha < 1)) badConfig('alpha must be in (0, 1)', o.alpha);
    if (!Number.isFinite(o.margin) || o.margin < 0) badConfig('margin must be ≥ 0', o.margin);
    if (!Number.isInteger(o.epoch) || o.epoch < 2 || o.epoch > 1e7)
      badConfig('epoch must be an integer in 2..10,000,000', o.epoch);
    if (!Number.isInteger(o.minOutcomes) || o.minOutcomes < 2 || o.minOutcomes > o.epoch)
      badConfig('minOutcomes must be an integer in 2..epoch', o.minOutcomes);
    this.options = o;
  }

  /** Outcomes observed since creation. */
  get n(): number {
    return this.seen;
  }

  /** Verdicts given since creation. */
  get resets(): number {
    return this.found;
  }

  /** The current sequence's number (1-based): restarts and resets so far, plus one. */
  get sequenceNumber(): number {
    return this.sequence;
  }

  /**
   * Adds one outcome's three losses (all before the device head learned it); returns a verdict
   * when the evidence calls for a reset, else null. Non-finite or negative losses throw
   * BAD_INPUT and change nothing.
   */
  observe(
    deviceLoss: number,
    baselineLoss: number,
    constantLoss: number,
  ): ForgettingVerdict | null {
    checkLoss(deviceLoss);
    checkLoss(baselineLoss);
    checkLoss(constantLoss);
    const at = this.seen++;
    const c = this.current;
    const d = deviceLoss - baselineLoss;
    const e = baselineLoss - constantLoss;
    c.n++;
    c.device += deviceLoss;
    c.baseline += baselineLoss;
    c.constant += constantLoss;
    add(c.d, d);
    add(c.e, e);
    add(this.pooled.d, d);
    add(this.pooled.e, e);
    const verdict = c.n >= this.options.minOutcomes ? this.judge(at) : null;
    if (verdict) {
      this.found++;
      this.restart();
    } else if (c.n >= this.options.epoch) {
      this.restart();
    }
    return verdict;
  }

  private judge(at: number): ForgettingVerdict | null {
    const c = this.current;
    const k = this.sequence;
    const level = this.options.alpha / (k * (k + 1));
    const rho = rhoFor(this.options.epoch / 2, level);
    // A needless reset needs the first claim to be wrong, which happens with probability ≤ level
    // (the second only makes the guard more careful).
    const worse = confidenceSequence(c.d, {
      alpha: level,
      rho,
      minVariance: variance(this.pooled.d),
    });
    if (!worse || worse.lower <= this.options.margin) return null;
    const better = confidenceSequence(c.e, {
      alpha: level,
      rho,
      minVariance: variance(this.pooled.e),
    });
    if (!better || better.upper >= 0) return null;
    return {
      at,
      n: c.n,
      deviceMean: c.device / c.n,
      baselineMean: c.baseline / c.n,
      constantMean: c.constant / c.n,
      difference: worse.mean,
      lower: worse.lower,
      margin: this.options.margin,
      sequence: k,
      level,
    };
  }

  /** A new sequence: the old one's evidence no longer describes the head (or is spent). */
  private restart(): void {
    this.current = { n: 0, device: 0, baseline: 0, constant: 0, d: empty(), e: empty() };
    this.sequence++;
  }

  exportState(): ForgettingGuardState {
    const c = this.current;
    return {
      kind: 'forgetting-guard-cs',
      options: { ...this.options },
      current: { ...c, d: { ...c.d }, e: { ...c.e } },
      pooled: { d: { ...this.pooled.d }, e: { ...this.pooled.e } },
      sequence: this.sequence,
      n: this.seen,
      resets: this.found,
    };
  }

  /** The guard a state came from; BAD_CONFIG if the state is corrupt. */
  static restore(state: ForgettingGuardState): ForgettingGuard {
    const bad = (why: string): never => {
      throw new LearnerError('BAD_CONFIG', `invalid forgetting guard state: ${why}`);
    };
    if (state?.kind !== 'forgetting-guard-cs') bad('not a forgetting guard state');
    const guard = new ForgettingGuard(state.options);
    const moments = (m: Moments | undefined, at: string) => {
      if (
        !m ||
        !Number.isSafeInteger(m.n) ||
        m.n < 0 ||
        !Number.isFinite(m.sum) ||
        !Number.isFinite(m.sumSq) ||
        m.sumSq < 0
      )
        bad(at);
      return { n: m!.n, sum: m!.sum, sumSq: m!.sumSq };
    };
    const c = state.current;
    if (!c || ![c.device, c.baseline, c.constant].every((x) => Number.isFinite(x) && x >= 0))
      bad('current sums');
    const d = moments(c.d, 'current.d');
    const e = moments(c.e, 'current.e');
    if (c.n !== d.n || c.n !== e.n || c.n >= guard.options.epoch) bad('current count');
    const pd = moments(state.pooled?.d, 'pooled.d');
    const pe = moments(state.pooled?.e, 'pooled.e');
    for (const count of [state.n, state.resets, state.sequence]) {
      if (!Number.isSafeInteger(count) || count < 0) bad('counts');
    }
    if (state.sequence < 1 || pd.n !== state.n || pe.n !== state.n || state.n < c.n) bad('counts');
    guard.current = { n: c.n, device: c.device, baseline: c.baseline, constant: c.constant, d, e };
    Object.assign(guard.pooled.d, pd);
    Object.assign(guard.pooled.e, pe);
    guard.sequence = state.sequence;
    guard.seen = state.n;
    guard.found = state.resets;
    return guard;
  }
}
