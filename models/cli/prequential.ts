/**
 * Prequential (test-then-train) evaluation of a head behind an online standard scaler:
 * every example is first predicted, the prediction scored against its label, and only then
 * learned. Metrics therefore measure performance on data the model had not seen, over the
 * whole stream, which is what an on-device learner experiences.
 *
 * Order within a row, the same as the learner runtime: scale x with the statistics of the
 * rows *before* it, predict, let the head learn that same scaled vector, then let the scaler
 * learn the raw row. Prediction thus never peeks at the row it predicts (not even its
 * features' contribution to the running mean), and the head learns exactly the
 * representation it was judged on.
 *
 * With `batch` > 1, rows are predicted one by one but learned only when `batch` of them have
 * arrived (the head with one update per row, in order), which is how "learning in batches"
 * loses accuracy on a drifting stream: predictions wait for a batch of labels.
 *
 * With `drift`, a change detector (`src/drift/`) watches the prequential error of every row,
 * 0/1 (wrong or right) for classification and |y − ŷ| for regression, fed right after the
 * row is scored; `drifts` lists the rows (0-based, in stream order) where it fired. This is
 * the loss-based (concept) drift a learner on the device watches.
 *
 * With `policy`, a drift policy (`src/drift/policy.ts`) is fed the same error and the served
 * score of every row and drives the head's learning-rate multiplier before each update (in
 * batch mode, before the batch), as the learner on the device does; `policy` in the report
 * has its alarms and the mean multiplier. `src/drift/evaluate.ts` measures what it is worth.
 *
 * Throughput (`samples_per_s`) times only learning (scaler + head updates), not parsing or
 * prediction; it includes the cost of reading the clock around each learning call.
 *
 * Pure (no Node APIs), so benchmarks can import it:
 *
 * ```ts
 * import { prequential } from './prequential.ts';
 * const report = prequential([[[0.1, 2], 1], [[0.3, 1], 0]], { task: 'binary', dim: 2 });
 * report.accuracy; // share of rows predicted right before learning them
 * ```
 */
import {
  createDetector,
  type DetectorKind,
  type DriftDetector,
  DriftPolicy,
  type DriftPolicyOptions,
} from '../../src/drift/index.ts';
import { createHead } from '../../src/learn/index.ts';
import { StandardScaler } from '../../src/learn/scaler.ts';
import type { Head, Label, OptimizerConfig, Task, Vector } from '../../src/learn/types.ts';
import { Accuracy } from '../../src/metrics/accuracy.ts';
import { LogLoss } from '../../src/metrics/log_loss.ts';
import { Mae } from '../../src/metrics/mae.ts';
import { Rmse } from '../../src/metrics/rmse.ts';
import { RocAuc } from '../../src/metrics/roc_auc.ts';

export interface PrequentialOptions {
  task: Task;
  dim: number;
  /** Required for multiclass; binary defaults to [0, 1] (classes[1] is the positive class). */
  classes?: (string | number)[];
  optimizer?: OptimizerConfig;
  l2?: number;
  l1?: number;
  /** Learn in batches of this many rows (default 1: learn each row right after predicting it). */
  batch?: number;
  /** Put an online standard scaler in front of the head (default true). */
  scale?: boolean;
  /** Watch the prequential error with this change detector (default options for a kind). */
  drift?: DetectorKind | DriftDetector;
  /** Adapt the learning rate with a drift policy (its options, or a policy); default none. */
  policy?: DriftPolicyOptions | DriftPolicy;
}

/** Metrics of one run; null where a metric does not apply to the task (or had no data). */
export interface PrequentialReport {
  accuracy: number | null;
  logloss: number | null;
  auc: number | null;
  rmse: number | null;
  mae: number | null;
  n: number;
  samples_per_s: number | null;
  /** Rows (0-based) where the drift detector fired; present only when one was given. */
  drifts?: number[];
  /** The head's candidates by weight at the end, leader first (a single head: itself). */
  candidates: { name: string; weight: number }[];
  /** With a policy: its alarms per detector, and the mean learning-rate multiplier. */
  policy?: { alerts: number; byDetector: Record<string, number>; meanMultiplier: number };
}

export class Prequential {
  readonly head: Head;
  private readonly scaler: StandardScaler | undefined;
  private readonly dim: number;
  private readonly batch: number;
  private readonly classes: readonly (string | number)[];
  private readonly proba: Float64Array;
  private readonly scaled: Float64Array;
  /** Rows waiting to be learned: scaled (for the head) and raw (for the scaler). */
  private readonly pendingScaled: Float64Array;
  private readonly pendingRaw: Float64Array;
  private readonly pendingLabels: Label[];
  private pending = 0;

  private readonly accuracy = new Accuracy();
  private readonly logloss = new LogLoss();
  private readonly auc = new RocAuc();
  private readonly rmse = new Rmse();
  private readonly mae = new Mae();
  private readonly detector: DriftDetector | undefined;
  private readonly drifts: number[] = [];
  private readonly policy: DriftPolicy | undefined;
  /** The score served for the row being stepped (set by `evaluate`). */
  private served = 0;
  private multiplierSum = 0;
  private rows = 0;
  private learned = 0;
  private learnMs = 0;

  constructor(options: PrequentialOptions) {
    this.head = createHead({
      task: options.task,
      dim: options.dim,
      classes: options.classes,
      optimizer: options.optimizer,
      l2: options.l2,
      l1: options.l1,
    });
    this.dim = options.dim;
    this.scaler = options.scale === false ? undefined : new StandardScaler(options.dim);
    const batch = options.batch ?? 1;
    if (!Number.isInteger(batch) || batch < 1)
      throw new RangeError('batch must be a positive integer');
    this.batch = batch;
    this.classes = this.head.classes;
    this.proba = new Float64Array(Math.max(2, this.head.outputs));
    this.scaled = new Float64Array(options.dim);
    this.pendingScaled = new Float64Array(batch * options.dim);
    this.pendingRaw = new Float64Array(batch * options.dim);
    this.pendingLabels = new Array<Label>(batch);
    const drift = options.drift;
    this.detector = typeof drift === 'string' ? createDetector(drift) : drift;
    const policy = options.policy;
    this.policy = policy instanceof DriftPolicy || !policy ? policy : new DriftPolicy(policy);
  }

  /** Predicts x, scores the prediction against y, then learns (x, y) now or with its batch. */
  step(x: Vector, y: Label): void {
    const z = this.scaler ? this.scaler.transform(x, this.scaled) : this.copy(x);
    const error = this.evaluate(z, y);
    if (this.detector?.update(error)) this.drifts.push(this.rows);
    if (this.policy) {
      this.policy.observe(error, this.served);
      const multiplier = this.policy.multiplier;
      this.head.learningRateScale[0] = multiplier;
      this.multiplierSum += multiplier;
    }
    this.rows++;
    if (this.batch === 1) {
      const start = performance.now();
      this.head.partialFit(z, y);
      this.scaler?.learn(x);
      this.learnMs += performance.now() - start;
      this.learned++;
      return;
    }
    const offset = this.pending * this.dim;
    this.pendingScaled.set(z, offset);
    for (let j = 0; j < this.dim; j++) this.pendingRaw[offset + j] = x[j];
    this.pendingLabels[this.pending++] = y;
    if (this.pending === this.batch) this.flush();
  }

  /** Learns a partial last batch and returns the metrics. */
  finish(): PrequentialReport {
    this.flush();
    const classification = this.head.task !== 'regression';
    return {
      accuracy: classification ? this.accuracy.get() : null,
      logloss: classification ? this.logloss.get() : null,
      auc: this.head.task === 'binary' ? this.auc.get() : null,
      rmse: classification ? null : this.rmse.get(),
      mae: classification ? null : this.mae.get(),
      n: this.rows,
      samples_per_s: this.learnMs > 0 ? (this.learned / this.learnMs) * 1000 : null,
      candidates: this.head.candidates(),
      ...(this.detector ? { drifts: this.drifts.slice() } : {}),
      ...(this.policy ? { policy: this.policyReport() } : {}),
    };
  }

  private policyReport(): NonNullable<PrequentialReport['policy']> {
    const { alerts, byDetector = {} } = (this.policy as DriftPolicy).peekStats();
    const meanMultiplier = this.rows > 0 ? this.multiplierSum / this.rows : 1;
    return { alerts, byDetector, meanMultiplier };
  }

  /** Scores the row; returns its error: |y − ŷ| (regression) or 0/1 (classification). */
  private evaluate(z: Float64Array, y: Label): number {
    const head = this.head;
    if (head.task === 'regression') {
      const predicted = head.score(z);
      this.served = predicted;
      this.rmse.update(y as number, predicted);
      this.mae.update(y as number, predicted);
      return Math.abs((y as number) - predicted);
    }
    const p = head.predictProba(z, this.proba);
    let best = 0;
    for (let k = 1; k < head.outputs; k++) if (p[k] > p[best]) best = k;
    // Binary: P(positive) must beat ½, as Head.predict decides (a tie is negative).
    const predicted =
      head.task === 'binary' ? this.classes[p[1] > 0.5 ? 1 : 0] : this.classes[best];
    const truth = this.classes.indexOf(y as string | number);
    this.served = head.task === 'binary' ? p[1] : p[best];
    this.accuracy.update(y, predicted);
    this.logloss.update(truth >= 0 ? p[truth] : 0);
    if (head.task === 'binary') this.auc.update(truth === 1, p[1]);
    return predicted === y ? 0 : 1;
  }

  private flush(): void {
    if (this.pending === 0) return;
    const n = this.pending;
    const d = this.dim;
    const start = performance.now();
    const labels = n === this.batch ? this.pendingLabels : this.pendingLabels.slice(0, n);
    this.head.partialFitMany(this.pendingScaled.subarray(0, n * d), labels);
    if (this.scaler) {
      const raw = this.scaled; // free again: every pending row is already scaled
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < d; j++) raw[j] = this.pendingRaw[i * d + j];
        this.scaler.learn(raw);
      }
    }
    this.learnMs += performance.now() - start;
    this.learned += n;
    this.pending = 0;
  }

  private copy(x: Vector): Float64Array {
    for (let j = 0; j < this.dim; j++) this.scaled[j] = x[j];
    return this.scaled;
  }
}

/** Runs a whole stream through {@link Prequential} and returns its report. */
export function prequential(
  rows: Iterable<readonly [Vector, Label]>,
  options: PrequentialOptions,
): PrequentialReport {
  const run = new Prequential(options);
  for (const [x, y] of rows) run.step(x, y);
  return run.finish();
}
