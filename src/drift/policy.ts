/**
 * The drift policy: what the device watches for drift, what it reports, and how it adapts.
 * One object per model version on the device, fed once per outcome, deterministic given its
 * inputs, and exportable as plain JSON so it lives in the learner's snapshots.
 *
 * What is watched (each can be configured or switched off with `false`):
 * - `loss` — concept drift: a change detector ({@link Adwin} by default; 'ph' or 'kswin')
 *   on the prequential error of each outcome, the error of the prediction made *before* the
 *   head learned it. Feed 0/1 (wrong/right) for classification, which suits the detectors'
 *   defaults; for regression feed a bounded error (e.g. min(1, |y − ŷ| / scale)) or
 *   configure Page-Hinkley's threshold in the error's units.
 * - `prediction` — prediction drift: the distribution of the scores the head serves.
 *   'psi' (default) compares the last `window` scores with a reference: the first
 *   `referenceSize` scores seen (the server head's own scores when the policy starts with a
 *   fresh version). 'kswin' compares the stream with its own recent past instead.
 * - `features` — feature drift: each input feature against the training reference the
 *   backbone's feature spec carries (`FeatureInput.reference`, see
 *   {@link featureReferenceFromSpec}), binned as equiprobable bins of N(mean, std²); without
 *   a reference, against the first `referenceSize` examples. One PSI per feature. Off unless
 *   configured (the policy needs the number of features).
 *
 * What comes out:
 * - {@link DriftPolicy.observe} returns the drift events of that outcome (usually none):
 *   which kind of drift, which detector, its severity in [0, 1], at which observation.
 * - {@link DriftPolicy.takeStats}: alarms per detector since the last call, the `alerts` and
 *   `byDetector` of the reporter's `DriftStats` (keys such as `loss.adwin`,
 *   `prediction.psi`, `features.psi`).
 * - {@link DriftPolicy.multiplier}: a learning-rate multiplier for the head
 *   (`Head.learningRateMultiplier`). An event raises it to at least
 *   1 + severity · boost (at most `maxMultiplier`), and it decays back to 1 with a half-life
 *   of `halfLife` observations, so the head adapts faster right after a change and returns
 *   to its usual pace once the new concept is learned.
 *
 * Severity, per source:
 * - loss: the relative rise of the error, (fast − slow) / slow clamped to [0, 1], from two
 *   exponential moving averages of the error (half-lives `fastHalfLife`, `slowHalfLife`); a
 *   detected *fall* of the error is reported with severity 0 (nothing to adapt to).
 * - PSI: PSI / (2 · threshold), at most 1 (0.5 at the threshold, 1 at twice it).
 * - KSWIN: the Kolmogorov–Smirnov distance of the test that fired.
 *
 * Parameters (defaults measured on the electricity stream, see `src/drift/evaluate.ts`):
 * - `loss.boost` (default 1), `prediction.boost` (0), `features.boost` (0): how strongly
 *   a drift of that source raises the learning rate. Prediction and feature drift are
 *   reported but do not, by default, change learning: a model that is learning moves its
 *   own scores, and inputs can move without the concept changing.
 * - `maxMultiplier` (default 2): the cap on the multiplier.
 * - `halfLife` (default 500 observations): how fast the multiplier returns to 1.
 * - `fastHalfLife` (32), `slowHalfLife` (1,000): the error averages behind the severity.
 * - PSI watches: `referenceSize` (1,000), `bins` (10), `window` (1,000), `threshold`
 *   (0.25), as in {@link Psi}.
 *
 * Measured in `test/unit/drift/policy.test.ts` (seeded; a delay counts the outcomes after the
 * change up to and including the one that raised the event):
 * - concept: a 0/1 error rate moving from 0.1 to 0.4 after 1,000 outcomes is reported within
 *   128 outcomes in ≥ 19 of 20 runs, with no event before the change (ADWIN's own figures);
 * - prediction (PSI, defaults): scores N(0.3, 0.1²) moving to N(0.5, 0.1²) after 3,000
 *   outcomes: within 350 outcomes in 40 of 40 runs (median 276), one event per shift;
 * - feature (PSI against the spec's N(0, 1)): a mean shift of one standard deviation, within
 *   600 outcomes in 40 of 40 runs (median 516); the unshifted features never fire;
 * - stationary: 2 runs of 50,000 outcomes (error Bernoulli(0.2), scores N(0.3, 0.1²)): no
 *   event at all, the multiplier stays 1.
 * The distribution watches see a change only once a good part of their `window` holds it:
 * shorten `window` (and `minSamples` goes with it) to react faster, at more noise.
 *
 * References: ADWIN, Bifet & Gavaldà (2007); Page-Hinkley, Page (1954); KSWIN, Raab,
 * Heusinger & Schleif (2020); PSI, Siddiqi (2006) — each in its detector's file. Raising the
 * step size after a detected change follows the "adapt when a change is detected" family of
 * strategies surveyed by Gama et al. (2014), "A Survey on Concept Drift Adaptation", ACM
 * Computing Surveys 46(4).
 *
 * ```ts
 * import { DriftPolicy } from './policy.ts';
 * import { createHead } from '../learn/index.ts';
 * const policy = new DriftPolicy({ loss: { detector: 'adwin' }, prediction: false });
 * const head = createHead({ task: 'binary', dim: 1 });
 * let seed = 7;
 * const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
 * for (let i = 0; i < 4000; i++) {
 *   const x = [random() - 0.5];
 *   const y = (x[0] > 0) === i < 2000 ? 1 : 0; // the concept flips at 2000
 *   const score = head.score(x);
 *   for (const event of policy.observe((score > 0.5 ? 1 : 0) === y ? 0 : 1, score)) {
 *     console.log(event.kind, event.detector, event.at, event.severity);
 *   }
 *   head.learningRateScale[0] = policy.multiplier; // the allocation-free form of the setter
 *   head.partialFit(x, y);
 * }
 * // concept loss.adwin 2015 1, concept loss.adwin 2047 1 (the flip: the rate doubles), then
 * // concept loss.adwin 2463 0 and 2911 0 (the error falls again as the head relearns)
 * policy.takeStats(); // { alerts: 4, byDetector: { 'loss.adwin': 4 } }
 * const copy = DriftPolicy.restore(JSON.parse(JSON.stringify(policy.exportState())));
 * ```
 */
import { LearnerError } from '../errors.ts';
import type { Vector } from '../learn/types.ts';
import { type AnyDetector, createDetector } from './factory.ts';
import { toJsonState } from './json_state.ts';
import { Kswin } from './kswin.ts';
import type {
  DriftEvent,
  DriftKind,
  DriftPolicyOptions,
  ResolvedDriftPolicyOptions,
  ResolvedFeatures,
  ResolvedScores,
} from './policy_options.ts';
import {
  type DriftAlarms,
  psiDetectorOptions,
  resolveDriftPolicyOptions,
} from './policy_options.ts';
import type { DriftPolicyState, ScoreDetector } from './policy_state.ts';
import { checkPolicyState, policyStateError } from './policy_state.ts';
import { Psi } from './psi.ts';

const NO_EVENTS: readonly DriftEvent[] = Object.freeze([]);

export class DriftPolicy {
  readonly options: ResolvedDriftPolicyOptions;
  private readonly decay: number;
  private readonly fastRate: number;
  private readonly slowRate: number;
  private readonly lossKey: string;
  private readonly predictionKey: string;
  private readonly featureKey = 'features.psi';
  private lossDetector: AnyDetector | null = null;
  private scoreDetector: ScoreDetector | null = null;
  private scoreReference: Float64Array | null = null;
  private featureDetectors: Psi[] | null = null;
  private featureReference: Float64Array | null = null;
  /** Values (rows) already in the reference windows being collected. */
  private scoreCollected = 0;
  private featureCollected = 0;
  private seen = 0;
  private excess = 0;
  private fast = 0;
  private slow = 0;
  private fastWeight = 0;
  private slowWeight = 0;
  private counts: Record<string, number> = {};
  private events: DriftEvent[] = [];

  constructor(options: DriftPolicyOptions = {}) {
    this.options = resolveDriftPolicyOptions(options);
    const o = this.options;
    this.decay = 2 ** (-1 / o.halfLife);
    this.fastRate = 1 - 2 ** (-1 / o.fastHalfLife);
    this.slowRate = 1 - 2 ** (-1 / o.slowHalfLife);
    this.lossKey = o.loss ? `loss.${o.loss.detector}` : '';
    this.predictionKey = o.prediction ? `prediction.${o.prediction.method}` : '';
    if (o.loss) this.lossDetector = createDetector(o.loss.detector, o.loss.options);
    if (o.prediction) {
      if (o.prediction.method === 'kswin') this.scoreDetector = new Kswin(o.prediction.kswin);
      else this.scoreReference = new Float64Array(o.prediction.referenceSize);
    }
    if (o.features) {
      const f = o.features;
      if (f.reference) {
        const { mean, std } = f.reference;
        this.featureDetectors = mean.map((m, j) =>
          Psi.fromNormal(m, std[j], psiDetectorOptions(f)),
        );
      } else {
        this.featureReference = new Float64Array(f.referenceSize * f.dim);
      }
    }
    this.resetCounts();
  }

  /** Observations fed so far. */
  get n(): number {
    return this.seen;
  }

  /** The learning-rate multiplier for the head's next update (1 when nothing happened). */
  get multiplier(): number {
    return 1 + this.excess;
  }

  /** Whether the prediction and feature watches still collect their reference windows. */
  get collectingReference(): { prediction: boolean; features: boolean } {
    return {
      prediction: this.scoreReference !== null,
      features: this.featureReference !== null,
    };
  }

  /**
   * Feeds one outcome: `error` of the prediction made before learning it (see the module's
   * doc), the `score` that was served, and the raw input `features` (only if a feature watch
   * is configured; otherwise ignored). A watch whose input is not given skips this outcome.
   * Returns the drift events of this outcome (a shared empty array when none). Bad input
   * throws BAD_INPUT and changes nothing.
   */
  observe(error: number, score?: number, features?: Vector): readonly DriftEvent[] {
    this.check(error, score, features);
    const o = this.options;
    this.seen++;
    this.excess *= this.decay;
    // Averages started at 0 and divided by their weight: an average started at the first value
    // would let that one value dominate the slow average for thousands of outcomes.
    this.fast += this.fastRate * (error - this.fast);
    this.slow += this.slowRate * (error - this.slow);
    this.fastWeight += this.fastRate * (1 - this.fastWeight);
    this.slowWeight += this.slowRate * (1 - this.slowWeight);
    let events: DriftEvent[] | null = null;
    if (o.loss && this.lossDetector?.update(error)) {
      const fast = this.fast / this.fastWeight;
      const slow = this.slow / this.slowWeight;
      const rise = (fast - slow) / Math.max(Math.abs(slow), 1e-3);
      const severity = Math.min(1, Math.max(0, rise));
      events = this.raise(
        events,
        'concept',
        this.lossKey,
        severity,
        rise > 0 ? 'up' : 'down',
        rise,
        o.loss.boost,
      );
    }
    if (o.prediction && score !== undefined) {
      const fired = this.observeScore(score, o.prediction);
      if (fired >= 0) {
        events = this.raise(
          events,
          'prediction',
          this.predictionKey,
          fired,
          'shift',
          this.scoreValue(),
          o.prediction.boost,
        );
      }
    }
    if (o.features && features !== undefined)
      events = this.observeFeatures(features, o.features, events);
    if (events === null) return NO_EVENTS;
    for (const event of events) event.multiplier = this.multiplier;
    this.events = events;
    return events;
  }

  /** Alarms since the last call, for the reporter's `DriftStats`; then starts counting anew. */
  takeStats(): DriftAlarms {
    const stats = this.peekStats();
    this.resetCounts();
    return stats;
  }

  /** Alarms since the last {@link takeStats}, without resetting them. */
  peekStats(): DriftAlarms {
    let alerts = 0;
    for (const count of Object.values(this.counts)) alerts += count;
    return { alerts, byDetector: { ...this.counts } };
  }

  /** The current value of each distribution watch (PSI or KS distance), null while collecting. */
  scores(): { prediction: number | null; features: number[] | null } {
    return {
      prediction: this.scoreDetector ? this.scoreValue() : null,
      features: this.featureDetectors ? this.featureDetectors.map((p) => p.value) : null,
    };
  }

  /** The events of the last observation that had any. */
  get lastEvents(): readonly DriftEvent[] {
    return this.events;
  }

  exportState(): DriftPolicyState {
    const o = this.options;
    let prediction: DriftPolicyState['prediction'] = null;
    if (this.scoreReference) {
      prediction = { reference: Array.from(this.scoreReference.subarray(0, this.scoreCollected)) };
    } else if (this.scoreDetector) {
      prediction = { detector: toJsonState(this.scoreDetector.exportState()) };
    }
    let features: DriftPolicyState['features'] = null;
    if (this.featureReference && o.features) {
      const filled = this.featureCollected * o.features.dim;
      features = { reference: Array.from(this.featureReference.subarray(0, filled)) };
    } else if (this.featureDetectors) {
      features = { detectors: this.featureDetectors.map((p) => toJsonState(p.exportState())) };
    }
    return {
      kind: 'drift-policy',
      options: JSON.parse(JSON.stringify(o)),
      n: this.seen,
      excess: this.excess,
      fast: this.fast,
      slow: this.slow,
      fastWeight: this.fastWeight,
      slowWeight: this.slowWeight,
      loss: this.lossDetector ? toJsonState(this.lossDetector.exportState()) : null,
      prediction,
      features,
      counts: { ...this.counts },
    };
  }

  /** The policy a state came from; BAD_CONFIG if the state is corrupt or inconsistent. */
  static restore(state: DriftPolicyState): DriftPolicy {
    if (state?.kind !== 'drift-policy') policyStateError('not a drift policy state');
    const policy = new DriftPolicy(state.options as DriftPolicyOptions);
    const watches = checkPolicyState(state, policy.options, Object.keys(policy.counts));
    policy.lossDetector = watches.loss;
    const p = watches.prediction;
    if (p && 'reference' in p) {
      policy.scoreReference?.set(p.reference);
      policy.scoreCollected = p.reference.length;
    } else if (p) {
      policy.scoreReference = null;
      policy.scoreDetector = p.detector;
    }
    const f = watches.features;
    if (f && 'reference' in f) {
      policy.featureReference?.set(f.reference);
      policy.featureCollected = f.rows;
    } else if (f) {
      policy.featureReference = null;
      policy.featureDetectors = f.detectors;
    }
    for (const [key, count] of Object.entries(state.counts)) policy.counts[key] = count;
    policy.seen = state.n;
    policy.excess = state.excess;
    policy.fast = state.fast;
    policy.slow = state.slow;
    policy.fastWeight = state.fastWeight;
    policy.slowWeight = state.slowWeight;
    return policy;
  }

  private check(error: number, score: number | undefined, features: Vector | undefined): void {
    const fail = (why: string): never => {
      throw new LearnerError('BAD_INPUT', `drift policy: ${why}`);
    };
    if (typeof error !== 'number' || !Number.isFinite(error))
      fail(`error must be finite, got ${error}`);
    if (score !== undefined && (typeof score !== 'number' || !Number.isFinite(score)))
      fail(`score must be finite, got ${score}`);
    const f = this.options.features;
    if (f && features !== undefined) {
      if (features?.length !== f.dim) fail(`expected ${f.dim} features, got ${features?.length}`);
      for (let j = 0; j < f.dim; j++) {
        const v = features[j];
        if (typeof v !== 'number' || !Number.isFinite(v)) fail(`feature ${j} is ${String(v)}`);
      }
    }
  }

  /** Feeds the score watch; the severity if it fired, else −1. */
  private observeScore(score: number, o: ResolvedScores): number {
    if (this.scoreReference) {
      this.scoreReference[this.scoreCollected++] = score;
      if (this.scoreCollected === o.referenceSize) {
        this.scoreDetector = Psi.fromReference(this.scoreReference, psiDetectorOptions(o));
        this.scoreReference = null;
      }
      return -1;
    }
    const detector = this.scoreDetector as ScoreDetector;
    if (!detector.update(score)) return -1;
    if (detector instanceof Psi) return Math.min(1, detector.value / (2 * o.threshold));
    return Math.min(1, (detector as Kswin).statistic);
  }

  private scoreValue(): number {
    const detector = this.scoreDetector;
    if (detector instanceof Psi) return detector.value;
    if (detector instanceof Kswin) return detector.statistic;
    return 0;
  }

  private observeFeatures(
    x: Vector,
    o: ResolvedFeatures,
    events: DriftEvent[] | null,
  ): DriftEvent[] | null {
    const reference = this.featureReference;
    if (reference) {
      const row = this.featureCollected++;
      for (let j = 0; j < o.dim; j++) reference[row * o.dim + j] = x[j];
      if (row + 1 === o.referenceSize) {
        const column = new Float64Array(o.referenceSize);
        this.featureDetectors = [];
        for (let j = 0; j < o.dim; j++) {
          for (let i = 0; i < o.referenceSize; i++) column[i] = reference[i * o.dim + j];
          this.featureDetectors.push(Psi.fromReference(column, psiDetectorOptions(o)));
        }
        this.featureReference = null;
      }
      return events;
    }
    const detectors = this.featureDetectors as Psi[];
    let out = events;
    for (let j = 0; j < o.dim; j++) {
      const psi = detectors[j];
      if (!psi.update(x[j])) continue;
      const value = psi.value;
      out = this.raise(
        out,
        'feature',
        this.featureKey,
        Math.min(1, value / (2 * o.threshold)),
        'shift',
        value,
        o.boost,
      );
      const event = out[out.length - 1];
      event.feature = j;
      const name = o.reference?.names?.[j];
      if (name !== undefined) event.featureName = name;
    }
    return out;
  }

  private raise(
    events: DriftEvent[] | null,
    kind: DriftKind,
    detector: string,
    severity: number,
    direction: DriftEvent['direction'],
    value: number,
    boost: number,
  ): DriftEvent[] {
    const out = events ?? [];
    this.counts[detector] = (this.counts[detector] ?? 0) + 1;
    const target = Math.min(this.options.maxMultiplier - 1, severity * boost);
    if (target > this.excess) this.excess = target;
    out.push({ kind, detector, severity, at: this.seen - 1, direction, value, multiplier: 0 });
    return out;
  }

  private resetCounts(): void {
    const o = this.options;
    const counts: Record<string, number> = {};
    if (o.loss) counts[this.lossKey] = 0;
    if (o.prediction) counts[this.predictionKey] = 0;
    if (o.features) counts[this.featureKey] = 0;
    this.counts = counts;
  }
}
