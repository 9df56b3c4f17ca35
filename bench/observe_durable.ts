import type { BrowserSession } from './lib/browser.ts';
import { runBenchPage } from './lib/browser.ts';
import type { Section } from './lib/report.ts';

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

/** A text histogram: how a person reads a latency distribution at a glance. */
export function histogram(samples: readonly number[], bins = 10): string {
  const max = Math.max(...samples);
  const width = max / bins || 1;
  const counts = new Array(bins).fill(0);
  for (const value of samples) counts[Math.min(bins - 1, Math.floor(value / width))]++;
  const most = Math.max(...counts);
  return counts
    .map((count, i) => {
      const bar = '█'.repeat(Math.round((count / most) * 40));
      return `${ms(i * width).padStart(9)} – ${ms((i + 1) * width).padEnd(9)} ${bar} ${count}`;
    })
    .join('\n');
}

/** latency.observe_durable: observe() → durable and learned, and snapshot writes, in Chromium. */
export async function observeDurable(quick: boolean, browser: BrowserSession): Promise<Section> {
  process.stdout.write('  observe → durable, Chromium…\n');
  const samples = quick ? 60 : 400;
  const result = await runBenchPage<ObserveResult>(
    browser,
    `bench/browser/observe.html?samples=${samples}`,
    300_000,
  );
  const { observe, snapshot } = result;
  return {
    key: 'latency.observe_durable',
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
      '```',
      histogram(result.observeSamples),
      '```',
    ].join('\n'),
  };
}
