import type { BrowserSession } from './lib/browser.ts';
import { runBenchPage } from './lib/browser.ts';
import { latencyPlot } from './lib/latency_plot.ts';
import type { Section } from './lib/report.ts';
import { fmt, progress } from './lib/report.ts';
import type { Figure } from './lib/stats.ts';
import { quantile, summarise } from './lib/stats.ts';

type Rounds = number[][];

interface PageResult {
  roundTrips: Record<'n1' | 'n100', Rounds>;
  inWorker: Record<'n1' | 'n100', { pipeline: Rounds; bare: Rounds; embed: Rounds }>;
}

const ms = (value: number) => `${value.toFixed(2)} ms`;
const ms3 = (value: number) => `${value.toFixed(3)} ms`;

/** A quantile taken in each round, summarised over the rounds. */
const perRound = (rounds: Rounds, q: number): Figure =>
  summarise(rounds.map((times) => quantile(times, q)));

/**
 * Ratio of the two medians in each round (blocks alternated within it), over the rounds. The
 * median block, not the total: on a busy machine the worker's thread is sometimes descheduled
 * for a whole block, which says nothing about either side.
 */
const ratioPerRound = (a: Rounds, b: Rounds): Figure =>
  summarise(a.map((times, i) => quantile(times, 0.5) / quantile(b[i], 0.5)));

/** What the pipeline adds to the model's own run at 100 candidates, in words. */
function overheadSentence(pipelineMs: number, bareMs: number, ratio: number): string {
  const micro = Math.round((pipelineMs - bareMs) * 1000);
  const what =
    micro > 0
      ? `adds ${micro} µs per call to the model’s run`
      : `measured no slower than the bare run (${micro} µs per call)`;
  return (
    `At 100 candidates the pipeline’s own work (checks, then scaler and head on each row) ${what}` +
    (ratio <= 1.1 ? ': the model’s run dominates.' : '.')
  );
}

/**
 * latency.predict: learner.predict() from the main thread (1 and 100 candidates), and the
 * worker's pipeline against a bare onnxruntime-web session.run on the same model.
 */
export async function latencyPredict(quick: boolean, browser: BrowserSession): Promise<Section> {
  const rounds = 5;
  const calls = quick ? 20 : 200;
  progress(`predict latency, Chromium: ${rounds} rounds of ${calls} calls, demo model…`);
  const page = await runBenchPage<PageResult>(
    browser,
    `bench/browser/predict.html?rounds=${rounds}&calls=${calls}`,
    600_000,
  );
  const sizes = [
    ['n1', 1],
    ['n100', 100],
  ] as const;
  const roundTrip = Object.fromEntries(
    sizes.map(([key, n]) => [
      `candidates_${n}`,
      { p50: perRound(page.roundTrips[key], 0.5), p99: perRound(page.roundTrips[key], 0.99) },
    ]),
  );
  const inWorker = Object.fromEntries(
    sizes.map(([key, n]) => {
      const { pipeline, bare, embed } = page.inWorker[key];
      return [
        `candidates_${n}`,
        {
          pipeline_ms: perRound(pipeline, 0.5),
          bare_session_run_ms: perRound(bare, 0.5),
          backbone_embed_ms: perRound(embed, 0.5),
          ratio: ratioPerRound(pipeline, bare),
        },
      ];
    }),
  );
  const at100 = inWorker.candidates_100;
  const one = roundTrip.candidates_1;
  const hundred = roundTrip.candidates_100;
  return {
    key: 'latency.predict',
    title: 'Predict latency',
    headline:
      `Predicting from the main thread (demo model): p50 ${ms(one.p50.median)} for 1 candidate, ` +
      `${ms(hundred.p50.median)} for 100 (p99 ${ms(one.p99.median)} / ${ms(hundred.p99.median)}); ` +
      `in the worker the pipeline takes ${fmt.ratio(at100.ratio.median)} the time of a bare onnxruntime-web session.run at 100 candidates.`,
    results: {
      model: 'public/models/demo/model.onnx',
      rounds,
      calls,
      round_trip: roundTrip,
      in_worker: inWorker,
    },
    floors: [
      {
        name: 'predict, 100 candidates: in-worker pipeline ≤ 1.25× bare session.run',
        pass: at100.ratio.median <= 1.25,
        measured: fmt.ratio(at100.ratio.median),
      },
    ],
    plots: sizes.map(([key, n]) =>
      latencyPlot(
        `predict_${n}.svg`,
        `learner.predict() round trip, ${n} candidate${n > 1 ? 's' : ''} (all ${rounds * calls} calls)`,
        page.roundTrips[key].flat(),
      ),
    ),
    markdown: [
      `The demo model (\`public/models/demo/model.onnx\`: item embedding 300 + 13 item features →`,
      'MLP → 23-wide embedding, then the online scaler and logistic head), in headless Chromium.',
      `${rounds} rounds of ${calls} sequential calls; each figure is the median over the rounds`,
      '(min – max) of that round’s figure.',
      '',
      '**Round trip from the main thread**: `await learner.predict(…)`: packing the candidates,',
      'posting them to the worker (transferred, not copied), running the model and the head,',
      'and the answer coming back.',
      '',
      '| candidates | p50 | p99 |',
      '| --- | --- | --- |',
      ...sizes.map(([, n]) => {
        const r = roundTrip[`candidates_${n}`];
        return `| ${n} | ${fmt.figure(r.p50, ms)} | ${fmt.figure(r.p99, ms)} |`;
      }),
      '',
      '**Inside the worker**: the learner’s pipeline (`Pipeline.predict`: input checks,',
      'onnxruntime-web, then scaler and head for each candidate) against a bare',
      '`InferenceSession.run` on the same model in the same worker (fresh input tensors per',
      'call, as an app would make). Chromium rounds `performance.now()` to 0.1 ms here, so',
      'calls are timed in blocks of 10, the two alternating block by block; figures are the',
      'median block’s time per call.',
      '',
      '| candidates | pipeline, per call | backbone.embed only | bare session.run | pipeline / bare |',
      '| --- | --- | --- | --- | --- |',
      ...sizes.map(([, n]) => {
        const r = inWorker[`candidates_${n}`];
        return `| ${n} | ${fmt.figure(r.pipeline_ms, ms3)} | ${fmt.figure(r.backbone_embed_ms, ms3)} | ${fmt.figure(r.bare_session_run_ms, ms3)} | ${fmt.figure(r.ratio, fmt.ratio)} |`;
      }),
      '',
      overheadSentence(
        at100.pipeline_ms.median,
        at100.bare_session_run_ms.median,
        at100.ratio.median,
      ),
      '',
      '![predict round trip, 1 candidate](plots/predict_1.svg)',
      '',
      '![predict round trip, 100 candidates](plots/predict_100.svg)',
    ].join('\n'),
  };
}
