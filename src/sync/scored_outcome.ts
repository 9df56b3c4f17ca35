/**
 * What the reporter learns about one outcome: the version that scored it, its place in the
 * log, when it happened, and how well the version predicted it *before* learning from it
 * (prequential evaluation). Never the example: raw interactions stay on the device (design
 * invariant 7), and the windows built from these hold sums only.
 *
 * The learner hands over the per-outcome loss it computes anyway (`Pipeline.prepare`); the rest
 * follows from it exactly for binary heads — the loss is −log p of the observed class, so p is
 * recovered without a second forward pass — and for regression errors. Quantities the loss does
 * not determine (the regression output, a multiclass argmax) are taken when the caller
 * supplies them and otherwise left out of the window rather than guessed.
 */
import type { Label, Task } from '../learn/types.ts';

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
}

/** The task of the version being reported, and how its labels map to classes. */
export interface TaskInfo {
  task: Task;
  /** Binary: [negative, positive] (default [0, 1]); multiclass: every class. */
  classes?: readonly (string | number)[];
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
    return { loss, positive, score, correct: score > 0.5 === positive };
  }
  if (info.task === 'regression') {
    const measured: Measured = { loss, squaredError: loss, absoluteError: Math.sqrt(loss) };
    if (Number.isFinite(outcome.prediction)) measured.score = outcome.prediction;
    return measured;
  }
  const measured: Measured = { loss };
  // Multiclass: −log p(observed class) does not say which class was on top.
  if (outcome.correct !== undefined) measured.correct = outcome.correct;
  return measured;
}
