import type { BrowserSession } from './lib/browser.ts';
import { runBenchPage } from './lib/browser.ts';
import { startFleetServer } from './lib/fleet_server.ts';
import type { Section } from './lib/report.ts';
import { fmt, progress } from './lib/report.ts';
import { quantile, summarise } from './lib/stats.ts';

/** What bench/browser/swap.ts measures. */
interface SwapRun {
  swaps: number;
  loops: number;
  batch: number;
  /** Per swap, from the learner's `rollout` event: bytes verified → serving the new version. */
  swapMs: number[];
  /** Per swap, on the page: publish request sent → the device serves it (live events). */
  stageMs: number[];
  /** Per swap: rollback request sent → the device has dropped the version. */
  dropMs: number[];
  predictions: number;
  failed: number;
  errors: string[];
  /** Answers that named no version, or one never published. */
  unnamed: number;
  versionsServed: number;
  guardrailRollbacks: string[];
  /** Predict latencies (ms, main thread, whole call) by when the call ran. */
  latency: { duringSwap: number[]; duringUpdate: number[]; outside: number[] };
}

const ms = (value: number) => `${value.toFixed(1)} ms`;

/**
 * swap: staging a new version while predictions run continuously, in Chromium against a real
 * sync server on 127.0.0.1 (autopilot off: only this benchmark, acting as the operator, moves
 * versions). The time from "bytes verified" to "serving the new version", predict latency
 * while a swap is under way against the rest of the run, and failed predictions.
 */
export async function swapUnderLoad(quick: boolean, browser: BrowserSession): Promise<Section> {
  const swaps = quick ? 2 : 8;
  progress(`swap under load: ${swaps} publish → stage → rollback cycles, Chromium…`);
  const fleet = await startFleetServer();
  let run: SwapRun;
  try {
    const query = new URLSearchParams(fleet.query);
    query.set('swaps', String(swaps));
    query.set('loops', '4');
    query.set('batch', '16');
    query.set('between', quick ? '60' : '150');
    run = await runBenchPage<SwapRun>(browser, `bench/browser/swap.html?${query}`, 600_000);
  } finally {
    await fleet.close();
  }

  const { latency } = run;
  const p99 = (samples: number[]) => (samples.length > 0 ? quantile(samples, 0.99) : NaN);
  const p50 = (samples: number[]) => (samples.length > 0 ? quantile(samples, 0.5) : NaN);
  const swap = summarise(run.swapMs);
  const stage = summarise(run.stageMs);
  const drop = summarise(run.dropMs);
  const during = {
    p50: p50(latency.duringSwap),
    p99: p99(latency.duringSwap),
    n: latency.duringSwap.length,
  };
  const update = {
    p50: p50(latency.duringUpdate),
    p99: p99(latency.duringUpdate),
    n: latency.duringUpdate.length,
  };
  const outside = {
    p50: p50(latency.outside),
    p99: p99(latency.outside),
    n: latency.outside.length,
  };
  const ratio = during.p99 / outside.p99;
  const updateRatio = update.p99 / outside.p99;
  const note =
    `${run.swaps} swaps under ${run.loops} concurrent predict loops of ${run.batch} candidates; ` +
    `main-thread latency of the whole predict() call. "During a swap" = calls overlapping ` +
    `verified → serving (timed in the worker, placed on the page's clock ending at the event's ` +
    `arrival); "during an update" = overlapping publish → serving or rollback → dropped; ` +
    `"outside" = neither. Timings on a shared, loaded machine.`;
  const results = {
    swaps: run.swaps,
    swapMs: { median: swap.median, max: swap.max, all: run.swapMs },
    publishToServingMs: { median: stage.median, max: stage.max },
    rollbackToDroppedMs: { median: drop.median, max: drop.max },
    predict: {
      duringSwap: during,
      duringUpdate: update,
      outside,
      p99RatioSwap: ratio,
      p99RatioUpdate: updateRatio,
    },
    predictions: run.predictions,
    failedPredictions: run.failed,
    unnamedAnswers: run.unnamed,
    guardrailRollbacks: run.guardrailRollbacks,
    note,
  };
  return {
    key: 'swap',
    title: 'Swap under load',
    headline: `A new version goes from verified bytes to serving in ${ms(swap.median)} (median; max ${ms(swap.max)}) with predictions running; predict p99 during swaps is ${fmt.ratio(ratio)} the p99 outside updates, and ${run.failed} of ${run.predictions.toLocaleString('en-US')} predictions failed.`,
    results,
    floors: [
      {
        name: 'swap: zero failed predictions, each names one published version',
        pass: run.failed === 0 && run.unnamed === 0,
        measured: `${run.failed} failed, ${run.unnamed} unnamed of ${run.predictions}`,
      },
    ],
    markdown: [
      `A learner in Chromium follows a real sync server on 127.0.0.1 (live events) while ${run.loops}`,
      `loops call \`predict()\` on ${run.batch} candidates back to back. ${run.swaps} times, a new`,
      'version (distinct bytes) is published at weight 1, the device downloads, verifies, loads,',
      'warms and switches to it, then the server rolls it back and the device drops it. The swap',
      "time is the learner's own `rollout` event `swapMs`: bytes verified → serving (session",
      'created and warmed, state stored, switched).',
      '',
      '| what | median | max |',
      '| --- | --- | --- |',
      `| bytes verified → serving (swapMs) | ${ms(swap.median)} | ${ms(swap.max)} |`,
      `| publish → serving, incl. live event and download | ${ms(stage.median)} | ${ms(stage.max)} |`,
      `| rollback → dropped | ${ms(drop.median)} | ${ms(drop.max)} |`,
      '',
      '| predict() calls | p50 | p99 | n |',
      '| --- | --- | --- | --- |',
      `| overlapping a swap (verified → serving) | ${ms(during.p50)} | ${ms(during.p99)} | ${during.n} |`,
      `| overlapping an update (publish → serving, rollback → dropped) | ${ms(update.p50)} | ${ms(update.p99)} | ${update.n} |`,
      `| outside updates | ${ms(outside.p50)} | ${ms(outside.p99)} | ${outside.n} |`,
      '',
      `p99 during swaps / p99 outside: ${fmt.ratio(ratio)}; during updates / outside:`,
      `${fmt.ratio(updateRatio)}. Failed predictions: ${run.failed} of`,
      `${run.predictions.toLocaleString('en-US')}; answers naming no published version: ${run.unnamed};`,
      `versions served: ${run.versionsServed}.`,
      ...(run.guardrailRollbacks.length > 0
        ? [
            '',
            `A guardrail rolled ${run.guardrailRollbacks.length} staged version(s) back on the device (the machine was too loaded for the 250 ms budget): ${run.guardrailRollbacks[0]}.`,
          ]
        : []),
      '',
      `Note: ${note}`,
    ].join('\n'),
  };
}
