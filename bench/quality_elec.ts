import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseNumber, splitCsvLine } from '../models/cli/csv.ts';
import { runPrequential } from '../models/cli/main.ts';
import { Prequential, type PrequentialReport } from '../models/cli/prequential.ts';
import { compareDriftPolicy } from '../src/drift/evaluate.ts';
import type { DriftDetector } from '../src/drift/index.ts';
import type { Floor, Section } from './lib/report.ts';
import { fmt, progress } from './lib/report.ts';
import { probeSklearn, runSklearn } from './lib/sklearn.ts';
import type { Series } from './lib/svg.ts';
import { lineChart } from './lib/svg.ts';

/** Read where it lies, beside the checkout (design.md: never copied into the repository). */
const ELEC = fileURLToPath(new URL('../../shared/data/streams/elec.csv', import.meta.url));
const BATCH = 50;
/** Accuracy is sampled every this many rows for the plots. */
const EVERY = 500;
const QUICK_ROWS = 5_000;

/** One learner's prequential figures; `curve` is [rows so far, of them predicted right]. */
export interface ElecRun {
  accuracy: number;
  logloss: number | null;
  samples_per_s: number | null;
  curve: [number, number][];
}

export interface Stream {
  xs: Float64Array[];
  ys: number[];
}

function readElec(limit: number | undefined): Stream {
  const lines = readFileSync(ELEC, 'utf8').split('\n');
  const header = splitCsvLine(lines[0]);
  const d = header.length - 1;
  const xs: Float64Array[] = [];
  const ys: number[] = [];
  for (const line of lines.slice(1)) {
    if (line.trim() === '' || (limit !== undefined && ys.length === limit)) continue;
    const fields = splitCsvLine(line);
    xs.push(Float64Array.from(fields.slice(0, d), parseNumber));
    ys.push(parseNumber(fields[d]));
  }
  return { xs, ys };
}

/**
 * Prequential's drift hook sees the 0/1 error of every row right after it is scored: this
 * "detector" never fires and only records it, which gives the accuracy over the stream
 * without a second evaluation loop.
 */
export class ErrorRecorder {
  readonly kind = 'ph' as const;
  readonly drift = false;
  readonly detections = 0;
  readonly errors: number[] = [];
  get n() {
    return this.errors.length;
  }
  update(value: number): boolean {
    this.errors.push(value);
    return false;
  }
  reset(): void {
    this.errors.length = 0;
  }
  exportState(): never {
    throw new Error('an error recorder is not persisted');
  }
}

export function curveOf(errors: readonly number[]): [number, number][] {
  const curve: [number, number][] = [];
  let right = 0;
  errors.forEach((error, i) => {
    right += 1 - error;
    if ((i + 1) % EVERY === 0 || i === errors.length - 1) curve.push([i + 1, right]);
  });
  return curve;
}

function localfit(stream: Stream, batch: number): ElecRun & { report: PrequentialReport } {
  const recorder = new ErrorRecorder();
  const run = new Prequential({
    task: 'binary',
    dim: stream.xs[0].length,
    classes: [0, 1],
    batch,
    drift: recorder as unknown as DriftDetector,
  });
  for (const [i, x] of stream.xs.entries()) run.step(x, stream.ys[i]);
  const report = run.finish();
  return {
    report,
    accuracy: report.accuracy!,
    logloss: report.logloss,
    samples_per_s: report.samples_per_s,
    curve: curveOf(recorder.errors),
  };
}

/** Predict the previous row's label: the bar any learner on this stream has to clear. */
export function noChange(stream: Stream): ElecRun {
  const errors = stream.ys.map((y, i) => (i > 0 && stream.ys[i - 1] === y ? 0 : 1));
  const curve = curveOf(errors);
  return {
    accuracy: curve[curve.length - 1][1] / stream.ys.length,
    logloss: null,
    samples_per_s: null,
    curve,
  };
}

const points = (a: number, b: number) => `${(Math.abs(a - b) * 100).toFixed(1)} points`;

/** What the table says, in words, from this run's figures. */
function narrative(runs: Record<string, ElecRun>): string[] {
  const own = runs.localfit_per_event.accuracy;
  const buffered = runs.localfit_batch_50.accuracy;
  const baseline = runs.no_change.accuracy;
  const sk = runs.sklearn_per_event;
  const lines = [
    `Waiting for 50 labels before learning costs localfit ${points(own, buffered)} of accuracy` +
      (runs.sklearn_batch_50 && sk
        ? ` (scikit-learn: ${points(sk.accuracy, runs.sklearn_batch_50.accuracy)}).`
        : '.'),
    `Learning per event ${own > baseline ? 'beats' : 'does not beat'} the no-change baseline by ${points(own, baseline)};` +
      ` buffered by 50 it ${buffered > baseline ? 'beats it by' : 'falls below it by'} ${points(buffered, baseline)}.`,
  ];
  if (sk) {
    lines.push(
      `localfit and scikit-learn learn the same model per event and end ${points(own, sk.accuracy)} apart` +
        (sk.samples_per_s && runs.localfit_per_event.samples_per_s
          ? `; localfit learns ${fmt.ratio(runs.localfit_per_event.samples_per_s / sk.samples_per_s)} as many rows per second.`
          : '.'),
    );
  }
  return lines;
}

function plots(runs: Record<string, ElecRun>) {
  const names: Record<string, string> = {
    localfit_per_event: 'localfit per event',
    localfit_batch_50: 'localfit per 50',
    sklearn_per_event: 'sklearn per event',
    sklearn_batch_50: 'sklearn per 50',
    no_change: 'no-change',
  };
  const series = (windowed: boolean): Series[] =>
    Object.entries(runs).map(([key, run]) => ({
      name: names[key] ?? key,
      // Dashed on top: scikit-learn per event may coincide with localfit's line.
      dashed: !key.startsWith('localfit'),
      points: run.curve.map(([rows, right], i) => {
        if (!windowed) return [rows, right / rows] as const;
        const [before, rightBefore] = i > 0 ? run.curve[i - 1] : [0, 0];
        return [rows, (right - rightBefore) / (rows - before)] as const;
      }),
    }));
  return [
    {
      file: 'elec_accuracy.svg',
      svg: lineChart({
        title: 'Elec2: prequential accuracy so far (test-then-train)',
        xLabel: 'rows of the stream',
        yLabel: 'accuracy',
        yDomain: [0.5, 1],
        series: series(false),
      }),
    },
    {
      file: 'elec_accuracy_windowed.svg',
      svg: lineChart({
        title: `Elec2: accuracy in each window of ${EVERY} rows`,
        xLabel: 'rows of the stream',
        yLabel: 'accuracy',
        yDomain: [0.3, 1],
        series: series(true),
      }),
    },
  ];
}

/** quality.elec: prequential accuracy and log loss on the Elec2 stream, against the peers. */
export async function qualityElec(quick: boolean): Promise<Section> {
  const skipped: string[] = [];
  if (!existsSync(ELEC)) {
    const reason = `${ELEC} not found (expected ../shared/data/streams/elec.csv beside the checkout)`;
    return {
      key: 'quality.elec',
      title: 'Quality: Elec2 stream',
      results: { skipped: reason },
      floors: [
        { name: 'elec: localfit per event ≥ 0.90 accuracy', pass: false, measured: 'skipped' },
      ],
      markdown: `Skipped: ${reason}.`,
      skipped: [`quality.elec: ${reason}`],
    };
  }
  const limit = quick ? QUICK_ROWS : undefined;
  progress(`elec: localfit per event and per ${BATCH}, no-change baseline…`);
  const stream = readElec(limit);
  const perEvent = localfit(stream, 1);
  const runs: Record<string, ElecRun> = {
    localfit_per_event: perEvent,
    localfit_batch_50: localfit(stream, BATCH),
  };
  if (!quick) {
    // The figure above must be the one `npx localfit prequential elec.csv` prints.
    const cli = await runPrequential({ file: ELEC, optimizer: 'mixture', batch: 1, json: false });
    if (cli.report.accuracy !== perEvent.accuracy || cli.report.n !== stream.ys.length) {
      throw new Error(
        `elec: the CLI's accuracy ${cli.report.accuracy} (n ${cli.report.n}) differs from the bench's ${perEvent.accuracy} (n ${stream.ys.length})`,
      );
    }
  }
  const peer = probeSklearn();
  if (peer.available) {
    progress(`elec: scikit-learn ${peer.version}, per event and per ${BATCH}…`);
    const job = (batch: number) => ({
      job: 'elec',
      path: ELEC,
      batch,
      every: EVERY,
      limit: limit ?? null,
    });
    const [one, fifty] = await runSklearn<(ElecRun & { n: number })[]>([job(1), job(BATCH)]);
    for (const result of [one, fifty]) {
      if (result.n !== stream.ys.length) {
        throw new Error(`elec: scikit-learn read ${result.n} rows, localfit ${stream.ys.length}`);
      }
    }
    runs.sklearn_per_event = one;
    runs.sklearn_batch_50 = fifty;
  } else {
    skipped.push(`quality.elec: scikit-learn skipped (${peer.reason})`);
    progress(`elec: scikit-learn SKIPPED: ${peer.reason}`);
  }
  runs.no_change = noChange(stream);

  // Issue "drift and retraining": the drift policy (src/drift/policy.ts) on, per event, the
  // learner's defaults otherwise — against the same run with it off.
  progress('elec: localfit per event with the drift policy on and off…');
  const policyRows = stream.xs.map((x, i) => [x, stream.ys[i]] as const);
  const policy = compareDriftPolicy(policyRows, { task: 'binary', dim: stream.xs[0].length });

  const sk = runs.sklearn_per_event;
  const f4 = (value: number | null) => (value === null ? '—' : value.toFixed(4));
  const floors: Floor[] = [
    {
      name: 'elec: localfit per event ≥ 0.90 accuracy',
      pass: perEvent.accuracy >= 0.9,
      measured: f4(perEvent.accuracy),
    },
    {
      name: 'elec: localfit per event ≥ scikit-learn per event − 0.005',
      pass: sk !== undefined && perEvent.accuracy >= sk.accuracy - 0.005,
      measured: sk ? `${f4(perEvent.accuracy)} vs ${f4(sk.accuracy)}` : 'skipped: scikit-learn',
    },
    {
      name: 'elec: drift policy on ≥ off (per event)',
      pass: (policy.on.accuracy ?? 0) >= (policy.off.accuracy ?? 1),
      measured: `${f4(policy.on.accuracy)} on vs ${f4(policy.off.accuracy)} off`,
    },
  ];
  const rows: [string, string, ElecRun | undefined][] = [
    [
      'localfit, per event (defaults)',
      'learns each row right after predicting it',
      runs.localfit_per_event,
    ],
    ['localfit, buffered by 50', `learns rows in batches of ${BATCH}`, runs.localfit_batch_50],
    ['scikit-learn, per event', '`partial_fit` on each row', runs.sklearn_per_event],
    ['scikit-learn, per 50', `\`partial_fit\` on batches of ${BATCH}`, runs.sklearn_batch_50],
    ['no-change baseline', "predicts the previous row's label", runs.no_change],
  ];
  const results = Object.fromEntries(
    Object.entries(runs).map(([key, run]) => [
      key,
      {
        accuracy: run.accuracy,
        logloss: run.logloss,
        samples_per_s: run.samples_per_s,
        curve: run.curve,
      },
    ]),
  );
  const baseline = runs.no_change.accuracy;
  return {
    key: 'quality.elec',
    headline:
      `Accuracy on the drifting Elec2 stream: ${f4(perEvent.accuracy)} learning per event` +
      (sk ? ` (scikit-learn per event: ${f4(sk.accuracy)})` : '') +
      `, ${f4(runs.localfit_batch_50.accuracy)} when buffered by 50; predicting the previous label scores ${f4(baseline)}.`,
    title: 'Quality: Elec2 stream (prequential)',
    results: {
      rows: stream.ys.length,
      ...(peer.available
        ? { sklearn_version: peer.version }
        : { sklearn: { skipped: peer.reason } }),
      ...results,
      drift_policy: {
        off: { accuracy: policy.off.accuracy, logloss: policy.off.logloss },
        on: {
          accuracy: policy.on.accuracy,
          logloss: policy.on.logloss,
          alarms: policy.on.byDetector,
          mean_multiplier: policy.on.meanMultiplier,
        },
      },
    },
    floors,
    skipped,
    plots: plots(runs),
    markdown: [
      `The Electricity (Elec2) stream: ${stream.ys.length.toLocaleString('en-US')} rows${quick ? ` (quick: the first ${QUICK_ROWS.toLocaleString('en-US')})` : ''}, 6`,
      'numeric features, price up/down, with real concept drift. Test-then-train: every row is',
      'predicted before it is learned, and features are scaled with a running mean and variance',
      '(the statistics of the rows before it) for every learner. localfit is the library',
      'defaults (`npx localfit prequential elec.csv`: logistic head, SGD with the "optimal"',
      'schedule, L2 = 1e-4); scikit-learn is `SGDClassifier(loss="log_loss", alpha=1e-4)`.',
      'Buffered learners still predict every row as it comes, but learn only when 50 labels',
      'have arrived. Learning speed counts scaler + model updates only.',
      '',
      '| learner | how | accuracy | log loss | learning samples/s |',
      '| --- | --- | --- | --- | --- |',
      ...rows.map(([name, how, run]) =>
        run
          ? `| ${name} | ${how} | ${f4(run.accuracy)} | ${f4(run.logloss)} | ${run.samples_per_s ? fmt.rate(run.samples_per_s) : '—'} |`
          : `| ${name} | ${how} | skipped | — | — |`,
      ),
      '',
      `With the drift policy on (ADWIN on the error, PSI on the scores; the learning rate rises`,
      `with a detected change and decays back), per-event accuracy is ${f4(policy.on.accuracy)}`,
      `against ${f4(policy.off.accuracy)} with it off (log loss ${f4(policy.on.logloss)} vs ${f4(policy.off.logloss)});`,
      `alarms: ${Object.entries(policy.on.byDetector ?? {})
        .map(([name, count]) => `${name} ${count}`)
        .join(', ')}.`,
      '',
      ...narrative(runs),
      '',
      '![Elec2 prequential accuracy](plots/elec_accuracy.svg)',
      '',
      '![Elec2 accuracy per window](plots/elec_accuracy_windowed.svg)',
    ].join('\n'),
  };
}
