/**
 * What the reporter learns about one outcome: the version that scored it, its place in the
 * log, when it happened, and how well the version predicted it *before* learning from it
 * (prequential evaluation). The example's raw values may come along for drift statistics, but
 * only their sums leave: raw interactions stay on the device (design invariant 7), and the
 * windows built from these hold sums only.
 *
 * The learner hands over the per-outcome loss it computes anyway (`Pipeline.prepare`); the rest
 * follows from it exactly for binary heads — the loss is −log p of the observed class, so p is
 * recovered without a second forward pass — and for regression errors. Quantities the loss does
 * not determine (the regression output, a multiclass argmax) are taken when the caller
 * supplies them and otherwise left out of the window rather than guessed.
 */
import type { Label, Task } from '../learn/types.ts';
import type { SlateOptions } from './slates.ts';

/** One learned outcome as the learner reports it to the metrics reporter. */
export interface LearnedOutcome {
  /** Its sequence number in the outcome log: windows are contiguous runs of these. */
  seq: number;
  /** When it was observed (epoch ms), as stored in the log: a replay sees the same time. */
  ts: number;
  /** The version that scored it. */
  versionId: string;
  label: Label;
  /** The head's loss on it before learning it: log loss, or squared error for regression. */
  loss: number;
  /** Regression: the prediction; multiclass: whether the top class was right. When known. */
  prediction?: number;
  correct?: boolean;
  /**
   * What the user did with the shown prediction, for CTR and conversion counts (see
   * {@link OutcomeKind}). Absent: a binary outcome is an impression, and a click when its label
   * is positive; outcomes of other tasks are not counted as impressions.
   */
  kind?: OutcomeKind;
  /**
   * The example's raw input values by column, for drift statistics: a number, or a vector whose
   * components are reported as `name[i]`. Non-finite values are skipped. Pass the same values
   * when the outcome is replayed, so a rebuilt window adds up the same.
   */
  features?: Readonly<Record<string, number | ArrayLike<number>>>;
  /** The slate and candidate this outcome is about, when the prediction was one of a slate. */
  slate?: SlateRef;
  /**
   * Shadow evaluation: this version's loss minus the baseline version's loss on this same
   * outcome, when both scored it (protocol.ts, `PairedComparison`).
   */
  paired?: { baselineVersionId: string; diff: number };
  /**
   * Drift alarms this outcome completed, by detector name (e.g. `loss.adwin`,
   * `forgetting_guard`): a window counts them in `drift.alerts` and `drift.byDetector`.
   */
  alarms?: readonly string[];
  /** A mixture head: the candidate with the largest weight when this outcome was scored. */
  leader?: string;
}

/**
 * What the user did with a shown prediction, a funnel: every outcome is an `impression`, a
 * `click` is also an impression, a `conversion` is also a click. So a window's counts always
 * satisfy conversions ≤ clicks ≤ impressions.
 */
export type OutcomeKind = 'impression' | 'click' | 'conversion';

/** An outcome's place in a slate opened with `MetricsReporter.openSlate`. */
export interface SlateRef {
  /** The slate's id, as given to `openSlate`. */
  id: string;
  /** The candidate's index in the slate's scores. */
  candidate: number;
  /**
   * Graded relevance (finite, ≥ 0), e.g. a rating. Absent: 2 for a conversion, 1 for a click
   * (or a positive binary label), else 0.
   */
  gain?: number;
}

/** The task of the version being reported, and how its labels map to classes. */
export interface TaskInfo {
  task: Task;
  /** Binary: [negative, positive] (default [0, 1]); multiclass: every class. */
  classes?: readonly (string | number)[];
  /** How slates are evaluated (the cut-off k, their TTL, how many stay open); see slates.ts. */
  ranking?: Partial<SlateOptions>;
}

/** An outcome's CTR counts (impression, click, conversion: each 0 or 1). */
export interface CtrStep {
  click: boolean;
  conversion: boolean;
}

/** The per-outcome quantities a window adds up. */
export interface Measured {
  loss: number;
  /** Binary: the label is the positive class. */
  positive?: boolean;
  /** Binary: P(positive) before learning; regression: the prediction, when known. */
  score?: number;
  /** Classification: whether the predicted class was right, when known. */
  correct?: boolean;
  /** Regression: squared and absolute error. */
  squaredError?: number;
  absoluteError?: number;
  /** For CTR: the outcome was a shown prediction, and whether it was clicked and converted. */
  ctr?: CtrStep;
  /** The raw feature values, when given (see `LearnedOutcome.features`). */
  features?: LearnedOutcome['features'];
  /** The paired loss difference, when given and finite. */
  paired?: LearnedOutcome['paired'];
  /** Drift alarms, when any. */
  alarms?: readonly string[];
  /** The leading head candidate, when the head is a mixture. */
  leader?: string;
}

/** Is `label` the positive class of a binary head? (Booleans mean what they say.) */
export function isPositive(label: Label, classes: readonly (string | number)[] = [0, 1]): boolean {
  if (typeof label === 'boolean') return label;
  return label === classes[1];
}

/**
 * The measurements of one outcome, or undefined when its loss is not a finite, non-negative
 * number (nothing trustworthy to add; the learner refuses such inputs before this point).
 */
export function measure(info: TaskInfo, outcome: LearnedOutcome): Measured | undefined {
  const { loss } = outcome;
  if (!(Number.isFinite(loss) && loss >= 0)) return undefined;
  if (info.task === 'binary') {
    const positive = isPositive(outcome.label, info.classes);
    // loss = −log p(observed class), so p(positive) = e^−loss, or 1 − e^−loss for a negative.
    const score = positive ? Math.exp(-loss) : -Math.expm1(-loss);
    // The logistic head predicts positive iff its margin is > 0, i.e. p > ½.
    const measured: Measured = { loss, positive, score, correct: score > 0.5 === positive };
    measured.ctr = ctrStep(kindOf(outcome) ?? (positive ? 'click' : 'impression'));
    return withExtras(measured, outcome);
  }
  if (info.task === 'regression') {
    const measured: Measured = { loss, squaredError: loss, absoluteError: Math.sqrt(loss) };
    if (Number.isFinite(outcome.prediction)) measured.score = outcome.prediction;
    const kind = kindOf(outcome);
    if (kind) measured.ctr = ctrStep(kind);
    return withExtras(measured, outcome);
  }
  const measured: Measured = { loss };
  // Multiclass: −log p(observed class) does not say which class was on top.
  if (outcome.correct !== undefined) measured.correct = outcome.correct;
  const kind = kindOf(outcome);
  if (kind) measured.ctr = ctrStep(kind);
  return withExtras(measured, outcome);
}

/** The gain an outcome gives its slate candidate (see {@link SlateRef.gain}). */
export function slateGain(info: TaskInfo, outcome: LearnedOutcome): number {
  const given = outcome.slate?.gain;
  if (given !== undefined) return Number.isFinite(given) && given >= 0 ? given : 0;
  const kind = kindOf(outcome);
  if (kind === 'conversion') return 2;
  if (kind === 'click') return 1;
  if (kind === 'impression') return 0;
  return info.task === 'binary' && isPositive(outcome.label, info.classes) ? 1 : 0;
}

const KINDS: readonly string[] = ['impression', 'click', 'conversion'] satisfies OutcomeKind[];

/** The outcome's kind; one this code does not know (sent across a worker boundary) is absent. */
function kindOf(outcome: LearnedOutcome): OutcomeKind | undefined {
  const { kind } = outcome;
  return kind !== undefined && KINDS.includes(kind) ? kind : undefined;
}

function ctrStep(kind: OutcomeKind): CtrStep {
  return { click: kind !== 'impression', conversion: kind === 'conversion' };
}

function withExtras(measured: Measured, outcome: LearnedOutcome): Measured {
  if (outcome.features) measured.features = outcome.features;
  if (outcome.alarms && outcome.alarms.length > 0) {
    measured.alarms = outcome.alarms.filter((name) => typeof name === 'string');
  }
  if (typeof outcome.leader === 'string') measured.leader = outcome.leader;
  const { paired } = outcome;
  if (paired && typeof paired.baselineVersionId === 'string' && Number.isFinite(paired.diff)) {
    measured.paired = paired;
  }
  return measured;
}
