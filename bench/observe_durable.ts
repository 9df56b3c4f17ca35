import type { BrowserSession } from './lib/browser.ts';
import { runBenchPage } from './lib/browser.ts';
import { latencyPlot } from './lib/latency_plot.ts';
import type { Section } from './lib/report.ts';
import { progress } from './lib/report.ts';

interface Latency {
  p50: number;
  p95: number;
  max: number;
  n: number;
}

interface ObserveResult {
  observe: Latency;
  observeSamples: number[];
  snapshot: { d64: Latency; d1024: Latency };
}

const ms = (value: number) => `${value.toFixed(2)} ms`;

/** latency.observe_durable: observe() → durable and learned, and snapshot writes, in Chromium. */
export async function observeDurable(quick: boolean, browser: BrowserSession): Promise<Section> {
  progress('observe → durable, Chromium…');
  const samples = quick ? 60 : 400;
  const result = await runBenchPage<ObserveResult>(
    browser,
    `bench/browser/observe.html?samples=${samples}`,
    300_000,
  );
  const { observe, snapshot } = result;
  return {
    key: 'latency.observe_durable',
    headline: `Learning is durable: observe() resolves once the outcome is in IndexedDB and learned, p50 ${ms(observe.p50)}, p95 ${ms(observe.p95)}.`,
    title: 'Observe → durable',
    results: { observe, snapshot },
    floors: [
      { name: 'observe → durable p95 ≤ 20 ms', pass: observe.p95 <= 20, measured: ms(observe.p95) },
    ],
    markdown: [
      `From \`learner.observe()\` on the main thread to its promise resolving: the outcome is`,
      'committed to IndexedDB (strict durability) and the head has learned it. Sequential calls.',
      '',
      '| what | p50 | p95 | max | n |',
      '| --- | --- | --- | --- | --- |',
      `| observe → durable | ${ms(observe.p50)} | ${ms(observe.p95)} | ${ms(observe.max)} | ${observe.n} |`,
      `| snapshot write, d = 64 | ${ms(snapshot.d64.p50)} | ${ms(snapshot.d64.p95)} | ${ms(snapshot.d64.max)} | ${snapshot.d64.n} |`,
      `| snapshot write, d = 1024 | ${ms(snapshot.d1024.p50)} | ${ms(snapshot.d1024.p95)} | ${ms(snapshot.d1024.max)} | ${snapshot.d1024.n} |`,
      '',
      `![observe → durable latency](plots/observe_durable.svg)`,
    ].join('\n'),
    plots: [
      latencyPlot(
        'observe_durable.svg',
        `observe() → durable and learned (${observe.n} sequential calls)`,
        result.observeSamples,
      ),
    ],
  };
}
