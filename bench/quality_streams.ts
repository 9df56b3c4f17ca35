import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PrequentialReport } from '../models/cli/prequential.ts';
import { Prequential } from '../models/cli/prequential.ts';
import type { GeneratedStream } from '../models/streams/stream.ts';
import { suite } from '../models/streams/suite.ts';
import type { DriftDetector } from '../src/drift/index.ts';
import type { OptimizerConfig } from '../src/learn/index.ts';
import type { Floor, Section } from './lib/report.ts';
import { fmt, progress } from './lib/report.ts';
import type { ElecRun } from './quality_elec.ts';
import { curveOf, ErrorRecorder } from './quality_elec.ts';

const num = (value: number) => value.toFixed(4);

import { probeSklearn, runSklearn } from './lib/sklearn.ts';
import { lineChart } from './lib/svg.ts';

const HEADS: readonly { name: string; optimizer?: OptimizerConfig }[] = [
  { name: 'default (mixture)' },
  { name: 'sgd', optimizer: { kind: 'sgd' } },
  { name: 'adagrad', optimizer: { kind: 'adagrad' } },
  { name: 'ftrl', optimizer: { kind: 'ftrl' } },
];
const QUICK_ROWS = 3_000;

interface HeadRun {
  head: string;
  report: PrequentialReport;
  /** Mean log loss over the first 100 and 500 rows (binary and multiclass). */
  early?: [number, number];
  curve: [number, number][];
}

function prequential(
  stream: GeneratedStream,
  optimizer: OptimizerConfig | undefined,
  limit = Infinity,
) {
  const recorder = new ErrorRecorder();
  const run = new Prequential({
    task: stream.task,
    dim: stream.dim,
    ...(stream.task === 'regression' ? {} : { classes: stream.classes }),
    ...(optimizer ? { optimizer } : {}),
    ...(stream.task === 'regression' ? {} : { drift: recorder as unknown as DriftDetector }),
  });
  let i = 0;
  for (const [x, y] of stream.rows()) {
    if (i++ >= limit) break;
    run.step(x, y);
  }
  return { report: run.finish(), errors: recorder.errors };
}

function runHead(stream: GeneratedStream, head: (typeof HEADS)[number]): HeadRun {
  const { report, errors } = prequential(stream, head.optimizer);
  const early =
    stream.task === 'regression'
      ? undefined
      : ([100, 500].map((n) => prequential(stream, head.optimizer, n).report.logloss!) as [
          number,
          number,
        ]);
  return { head: head.name, report, ...(early ? { early } : {}), curve: curveOf(errors) };
}

/** scikit-learn per event on a binary stream, written to a scratch CSV for the peer script. */
async function sklearnOn(stream: GeneratedStream, dir: string): Promise<ElecRun> {
  const path = join(dir, `${stream.name}.csv`);
  const lines = [
    [...Array.from({ length: stream.dim }, (_, j) => `x${j}`), 'y'].join(','),
    ...Array.from(stream.rows(), ([x, y]) => [...x, y].join(',')),
  ];
  writeFileSync(path, `${lines.join('\n')}\n`);
  return runSklearn<ElecRun>({ job: 'elec', path, batch: 1, every: 500 });
}

/**
 * quality.streams: every generated stream of the quality suite (models/streams/), prequential
 * (test, then train) per event: the default head against each single optimizer and, on the
 * binary streams, scikit-learn's SGDClassifier per event on the same running scaling.
 */
export async function qualityStreams(quick: boolean): Promise<Section> {
  const streams = suite(quick ? { rows: QUICK_ROWS } : {});
  const peer = probeSklearn();
  const skipped: string[] = [];
  if (!peer.available) skipped.push(`quality.streams: scikit-learn skipped (${peer.reason})`);
  const scratch = mkdtempSync(join(tmpdir(), 'localfit-streams-'));
  const results: { stream: GeneratedStream; runs: HeadRun[]; sklearn?: ElecRun }[] = [];
  try {
    for (const stream of streams) {
      progress(`streams: ${stream.name} (${stream.length.toLocaleString('en-US')} rows)…`);
      const runs = HEADS.map((head) => runHead(stream, head));
      const sklearn =
        peer.available && stream.task === 'binary' ? await sklearnOn(stream, scratch) : undefined;
      results.push({ stream, runs, ...(sklearn ? { sklearn } : {}) });
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }

  const floors: Floor[] = [];
  for (const { stream, runs } of results) {
    const [defaults, ...singles] = runs;
    if (stream.task === 'regression') {
      const best = Math.min(...singles.map((r) => r.report.rmse!));
      floors.push({
        name: `${stream.name}: default RMSE ≤ best single × 1.01`,
        pass: defaults.report.rmse! <= best * 1.01,
        measured: `${num(defaults.report.rmse!)} vs ${num(best)}`,
      });
      continue;
    }
    const bestAccuracy = Math.max(...singles.map((r) => r.report.accuracy!));
    const bestLoss = Math.min(...singles.map((r) => r.report.logloss!));
    floors.push(
      {
        name: `${stream.name}: default accuracy ≥ best single − 0.005`,
        pass: defaults.report.accuracy! >= bestAccuracy - 0.005,
        measured: `${num(defaults.report.accuracy!)} vs ${num(bestAccuracy)}`,
      },
      {
        name: `${stream.name}: default log loss ≤ best single + 0.01`,
        pass: defaults.report.logloss! <= bestLoss + 0.01,
        measured: `${num(defaults.report.logloss!)} vs ${num(bestLoss)}`,
      },
    );
    if (stream.task === 'binary' && defaults.early) {
      floors.push({
        name: `${stream.name}: fresh default head, first-100 and first-500 log loss ≤ 0.743`,
        pass: Math.max(...defaults.early) <= 0.743,
        measured: defaults.early.map(num).join(', '),
      });
    }
  }

  const cell = (value: number | null | undefined) => (value == null ? '–' : num(value));
  const tables = results.map(({ stream, runs, sklearn }) => {
    const rows = runs.map(
      (r) =>
        `| ${r.head} | ${cell(r.report.accuracy)} | ${cell(r.report.logloss)} | ${cell(r.report.auc)} | ${cell(r.report.rmse)} | ${r.early ? r.early.map(num).join(' / ') : '–'} | ${r.report.samples_per_s ? fmt.rate(r.report.samples_per_s) : '–'} |`,
    );
    if (sklearn)
      rows.push(
        `| scikit-learn SGDClassifier per event | ${cell(sklearn.accuracy)} | ${cell(sklearn.logloss)} | – | – | – | ${sklearn.samples_per_s ? fmt.rate(sklearn.samples_per_s) : '–'} |`,
      );
    return [
      `### ${stream.name} (${stream.task}, d = ${stream.dim}, ${stream.length.toLocaleString('en-US')} rows)`,
      '',
      stream.cite,
      '',
      '| head | accuracy | log loss | AUC | RMSE | first 100 / 500 log loss | learning samples/s |',
      '| --- | --- | --- | --- | --- | --- | --- |',
      ...rows,
    ].join('\n');
  });
  const windowed = (curve: readonly [number, number][]) =>
    curve.map(([n, right], i) => {
      const [n0, r0] = i > 0 ? curve[i - 1] : [0, 0];
      return [n, (right - r0) / (n - n0)] as const;
    });
  const plots = results
    .filter(({ stream }) => stream.task !== 'regression')
    .map(({ stream, runs, sklearn }) => ({
      file: `streams_${stream.name}.svg`,
      svg: lineChart({
        title: `${stream.name}: accuracy in each window of 500 rows`,
        xLabel: 'rows of the stream',
        yLabel: 'accuracy',
        series: [
          ...runs.map((r, i) => ({ name: r.head, points: windowed(r.curve), dashed: i > 0 })),
          ...(sklearn
            ? [{ name: 'scikit-learn', points: windowed(sklearn.curve), dashed: true }]
            : []),
        ],
      }),
    }));
  const passed = floors.filter((f) => f.pass).length;
  return {
    key: 'quality.streams',
    title: 'Quality: the generated streams of the suite',
    headline: `The default head on ${results.length} generated streams: ${passed} of ${floors.length} floors met against the best single optimizer of each stream.`,
    results: results.map(({ stream, runs, sklearn }) => ({
      stream: stream.name,
      task: stream.task,
      rows: stream.length,
      heads: runs.map((r) => ({ head: r.head, ...r.report, early: r.early })),
      ...(sklearn ? { sklearn: { accuracy: sklearn.accuracy, logloss: sklearn.logloss } } : {}),
    })),
    floors,
    markdown: [
      'Each stream of models/streams/ (seeded, generated at run time, cited below) is learned',
      'prequentially, one row at a time: the head predicts the row, is scored, then learns it,',
      'with the same running scaling (`npx localfit prequential` does the same). The default head',
      '(no optimizer given: the mixture) against each single optimizer with its defaults, and on',
      'the binary streams scikit-learn `SGDClassifier(loss="log_loss", alpha=1e-4)` per event.',
      '"First 100 / 500" is the mean log loss of a fresh head over those first rows.',
      '',
      ...tables.flatMap((table) => [table, '']),
      ...plots.map((p) => `![${p.file}](plots/${p.file})`),
    ].join('\n'),
    plots,
    skipped,
  };
}
