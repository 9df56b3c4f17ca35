import type { BrowserSession } from './lib/browser.ts';
import { runBenchPage } from './lib/browser.ts';
import type { Floor, Section } from './lib/report.ts';
import { fmt, progress } from './lib/report.ts';
import type { Peer } from './lib/sklearn.ts';
import { probeSklearn, runSklearn } from './lib/sklearn.ts';
import type { Figure } from './lib/stats.ts';
import { summarise } from './lib/stats.ts';
import type { Series } from './lib/svg.ts';
import { lineChart } from './lib/svg.ts';
import { measureTfjs, TFJS_VERSION } from './lib/tfjs.ts';
import type { ThroughputResult } from './lib/throughput.ts';
import { measureThroughput } from './lib/throughput.ts';

const DIMS = [8, 64, 256];
const RUNS = 5;
const BATCH = 50;

/** Samples per timed run: enough for ≥ 50 ms per run at each learner's speed. */
function samplesFor(d: number, quick: boolean) {
  const scale = quick ? 20 : 1;
  return {
    localfit: (d <= 8 ? 400_000 : d <= 64 ? 200_000 : 60_000) / scale,
    peerEvent: Math.round(2_000 / scale),
    peerBatch: Math.round(30_000 / scale),
  };
}

/** One environment's figures at one d: localfit and the bare loop, and TensorFlow.js. */
export interface EnvThroughput extends ThroughputResult {
  tfjs: { per_event: Figure; batch_50: Figure };
}

interface SklearnAt {
  d: number;
  per_event: Figure;
  batch_50: Figure;
}

/** The figure of a ratio of medians: localfit's speed over a peer's. */
const times = (a: Figure, b: Figure) => a.median / b.median;

async function tfjsAt(d: number, quick: boolean) {
  const n = samplesFor(d, quick);
  return {
    per_event: await measureTfjs(d, n.peerEvent, RUNS, 1),
    batch_50: await measureTfjs(d, n.peerBatch, RUNS, BATCH),
  };
}

/** All of scikit-learn's throughput runs in one interpreter (it takes seconds to start). */
async function sklearnAll(quick: boolean): Promise<SklearnAt[]> {
  const jobs = DIMS.flatMap((d) => {
    const n = samplesFor(d, quick);
    return [
      { job: 'throughput', d, samples: n.peerEvent, runs: RUNS, batch: 1 },
      { job: 'throughput', d, samples: n.peerBatch, runs: RUNS, batch: BATCH },
    ];
  });
  const answers = await runSklearn<{ rates: number[] }[]>(jobs);
  return DIMS.map((d, i) => ({
    d,
    per_event: summarise(answers[2 * i].rates),
    batch_50: summarise(answers[2 * i + 1].rates),
  }));
}

function envTable(results: readonly EnvThroughput[]): string {
  return [
    '| d | localfit head (SGD) | default head (mixture) | bare loop | head time / bare time | TF.js per event | TF.js per 50 | localfit / TF.js per event |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...results.map(
      (r) =>
        `| ${r.d} | ${fmt.figure(r.head, fmt.rate)} | ${fmt.figure(r.defaultHead, fmt.rate)} | ${fmt.figure(r.bare, fmt.rate)} | ${fmt.figure(r.slowdown, fmt.ratio)} | ${fmt.figure(r.tfjs.per_event, fmt.rate)} | ${fmt.figure(r.tfjs.batch_50, fmt.rate)} | ${fmt.ratio(times(r.head, r.tfjs.per_event))} |`,
    ),
  ].join('\n');
}

function sklearnTable(node: readonly EnvThroughput[], sklearn: readonly SklearnAt[]): string {
  return [
    '| d | scikit-learn per event | scikit-learn per 50 | localfit SGD (Node) / scikit-learn per event | localfit SGD (Node) / scikit-learn per 50 | default head (Node) / scikit-learn per event |',
    '| --- | --- | --- | --- | --- | --- |',
    ...sklearn.map((s) => {
      const { head, defaultHead } = node.find((r) => r.d === s.d)!;
      return `| ${s.d} | ${fmt.figure(s.per_event, fmt.rate)} | ${fmt.figure(s.batch_50, fmt.rate)} | ${fmt.ratio(times(head, s.per_event))} | ${fmt.ratio(times(head, s.batch_50))} | ${fmt.ratio(times(defaultHead, s.per_event))} |`;
    }),
  ].join('\n');
}

function plot(
  node: readonly EnvThroughput[],
  chromium: readonly EnvThroughput[],
  sklearn: readonly SklearnAt[],
) {
  const line = (
    name: string,
    rows: readonly { d: number }[],
    pick: (row: never) => Figure,
    dashed = false,
  ) =>
    ({
      name,
      points: rows.map((row) => [row.d, pick(row as never).median] as const),
      dashed,
    }) satisfies Series;
  const series: Series[] = [
    line('localfit, Node', node, (r: EnvThroughput) => r.head),
    line('localfit, Chromium worker', chromium, (r: EnvThroughput) => r.head),
    line('default head (mixture), Node', node, (r: EnvThroughput) => r.defaultHead),
    line('bare loop, Node', node, (r: EnvThroughput) => r.bare, true),
    line('TF.js per event, Node', node, (r: EnvThroughput) => r.tfjs.per_event),
    line('TF.js per 50, Node', node, (r: EnvThroughput) => r.tfjs.batch_50),
  ];
  if (sklearn.length > 0) {
    series.push(line('sklearn per event', sklearn, (r: SklearnAt) => r.per_event));
    series.push(line('sklearn per 50', sklearn, (r: SklearnAt) => r.batch_50));
  }
  return lineChart({
    title: 'Learning throughput vs. dimension (median of 5 runs)',
    xLabel: 'feature dimension d (log scale)',
    yLabel: 'samples / s (log scale)',
    xLog: true,
    yLog: true,
    xTicks: DIMS,
    series,
  });
}

/**
 * head.throughput: per-event partialFit in Node and in a Chromium worker, against the bare
 * loop (the limit), TensorFlow.js (per event and per 50) and scikit-learn (same).
 */
export async function headThroughput(quick: boolean, browser: BrowserSession): Promise<Section> {
  const node: EnvThroughput[] = [];
  for (const d of DIMS) {
    progress(`head throughput, Node, d=${d}: localfit and bare loop…`);
    const own = measureThroughput(d, samplesFor(d, quick).localfit, RUNS);
    progress(`head throughput, Node, d=${d}: TensorFlow.js ${TFJS_VERSION}…`);
    node.push({ ...own, tfjs: await tfjsAt(d, quick) });
  }

  progress('head throughput, Chromium worker (localfit, bare loop, TF.js)…');
  const query = new URLSearchParams({
    dims: DIMS.join(','),
    samples: DIMS.map((d) => samplesFor(d, quick).localfit).join(','),
    peerEvent: DIMS.map((d) => samplesFor(d, quick).peerEvent).join(','),
    peerBatch: DIMS.map((d) => samplesFor(d, quick).peerBatch).join(','),
    runs: String(RUNS),
    batch: String(BATCH),
  });
  const chromium = await runBenchPage<EnvThroughput[]>(
    browser,
    `bench/browser/throughput.html?${query}`,
    600_000,
  );

  const peer: Peer = probeSklearn();
  const sklearn: SklearnAt[] = [];
  const skipped: string[] = [];
  if (peer.available) {
    progress(`head throughput, scikit-learn ${peer.version}, d=${DIMS.join(', ')}…`);
    sklearn.push(...(await sklearnAll(quick)));
  } else {
    skipped.push(`head.throughput: scikit-learn skipped (${peer.reason})`);
    progress(`head throughput: scikit-learn SKIPPED: ${peer.reason}`);
  }

  const at64 = node.find((r) => r.d === 64)!;
  const sk64 = sklearn.find((r) => r.d === 64);
  const floors: Floor[] = [
    {
      name: 'head d=64 (Node) within 1.5× of the bare loop',
      pass: at64.slowdown.median <= 1.5,
      measured: fmt.ratio(at64.slowdown.median),
    },
    {
      name: 'head d=64 (Node) ≥ 1,000,000 samples/s',
      pass: at64.head.median >= 1e6,
      measured: fmt.rate(at64.head.median),
    },
    {
      name: 'head d=64 (Node) ≥ 100× scikit-learn per event',
      pass: sk64 !== undefined && times(at64.head, sk64.per_event) >= 100,
      measured: sk64 ? fmt.ratio(times(at64.head, sk64.per_event)) : 'skipped: scikit-learn',
    },
    {
      name: 'default head d=64 (Node) ≥ 250,000 events/s',
      pass: at64.defaultHead.median >= 250_000,
      measured: fmt.rate(at64.defaultHead.median),
    },
    {
      name: 'default head d=64 (Node) ≥ 100× scikit-learn per event',
      pass: sk64 !== undefined && times(at64.defaultHead, sk64.per_event) >= 100,
      measured: sk64 ? fmt.ratio(times(at64.defaultHead, sk64.per_event)) : 'skipped: scikit-learn',
    },
    {
      name: 'head d=64 (Node) ≥ 10× TensorFlow.js per event',
      pass: times(at64.head, at64.tfjs.per_event) >= 10,
      measured: fmt.ratio(times(at64.head, at64.tfjs.per_event)),
    },
  ];

  const ratios = node.map((r) => {
    const s = sklearn.find((k) => k.d === r.d);
    return {
      d: r.d,
      head_over_bare_time: r.slowdown.median,
      vs_tfjs_per_event: times(r.head, r.tfjs.per_event),
      vs_tfjs_batch_50: times(r.head, r.tfjs.batch_50),
      ...(s
        ? {
            vs_sklearn_per_event: times(r.head, s.per_event),
            vs_sklearn_batch_50: times(r.head, s.batch_50),
          }
        : {}),
    };
  });

  const markdown = [
    'How many labelled examples per second each learner takes in, one at a time (per event) or',
    'in batches of 50, for the same model: logistic regression with L2 = 1e-4 on a synthetic',
    'stream of d features. localfit is `createHead({ task: "binary", dim: d })` with SGD and',
    'the "optimal" schedule, calling `partialFit` per example; the **default head** is',
    '`createHead({ task: "binary", dim: d })` with nothing else: the mixture of SGD and AdaGrad',
    '(src/learn/mixture/), twice the arithmetic plus the weighing. The **bare loop** does the same',
    'arithmetic as one flat typed-array loop with nothing around it (no validation, no label',
    'mapping, no guard): the limit for JavaScript. **TensorFlow.js** is tfjs-core',
    `${TFJS_VERSION} on its CPU backend (the one every browser and worker has), one SGD step per`,
    'event or per 50 (gradient written with tf ops). **scikit-learn** is',
    '`SGDClassifier(loss="log_loss", alpha=1e-4).partial_fit` in CPython, per event or per 50.',
    'Ratios divide medians measured in this same run; "localfit / X" is how many times faster',
    'localfit is.',
    '',
    '![Learning throughput vs dimension](plots/throughput.svg)',
    '',
    '### Node',
    '',
    envTable(node),
    '',
    '### Chromium, inside a Web Worker',
    '',
    envTable(chromium),
    '',
    '### scikit-learn (CPython, one process)',
    '',
    peer.available
      ? sklearnTable(node, sklearn)
      : `Skipped: ${peer.reason}. Install Debian's \`python3-sklearn\` to compare.`,
    '',
    'Batching helps the peers because their per-call overhead (tensor allocation and dispatch',
    'in TF.js, the Python/NumPy boundary in scikit-learn) is paid once per 50; localfit has',
    'almost none to amortise, which is why it can learn each event at once (see quality.elec',
    'for what waiting for a batch costs in accuracy).',
  ].join('\n');

  const headline =
    `Learning one example at a time: ${fmt.rate(at64.head.median)} at d = 64 in Node ` +
    `(${fmt.rate(chromium.find((r) => r.d === 64)!.head.median)} in a Chromium worker): ` +
    `${fmt.ratio(times(at64.head, at64.tfjs.per_event))} TensorFlow.js` +
    (sk64 ? ` and ${fmt.ratio(times(at64.head, sk64.per_event))} scikit-learn per event` : '') +
    `, ${fmt.ratio(at64.slowdown.median)} the time of a bare typed-array loop.`;
  return {
    key: 'head.throughput',
    title: 'Head throughput',
    headline,
    results: {
      node,
      chromium_worker: chromium,
      sklearn: peer.available
        ? { version: peer.version, results: sklearn }
        : { skipped: peer.reason },
      tfjs_version: TFJS_VERSION,
      ratios,
    },
    floors,
    markdown,
    plots: [{ file: 'throughput.svg', svg: plot(node, chromium, sklearn) }],
    skipped,
  };
}
