import type { BrowserSession } from './lib/browser.ts';
import { runBenchPage } from './lib/browser.ts';
import type { Section } from './lib/report.ts';
import { progress } from './lib/report.ts';

interface MainThreadResult {
  interactions: number;
  /** The control: a deliberate 80 ms block was reported as a long task. */
  observerWorks: boolean;
  reactions: number;
  seconds: number;
  longTasks: number;
  longTaskMs: number;
  longestTaskMs: number;
  round: { p50: number; p95: number; max: number };
}

const ms = (value: number) => `${value.toFixed(1)} ms`;

/**
 * main_thread: long tasks on the main thread while the demo's loop runs 1,000 simulated
 * interactions (bench/browser/main_thread.ts), in Chromium.
 */
export async function mainThread(quick: boolean, browser: BrowserSession): Promise<Section> {
  progress('main thread during the demo loop, Chromium…');
  const interactions = quick ? 200 : 1000;
  const result = await runBenchPage<MainThreadResult>(
    browser,
    `bench/browser/main_thread.html?interactions=${interactions}`,
    600_000,
  );
  return {
    key: 'main_thread',
    headline: `The main thread stays free: ${result.longTasks} long tasks (> 50 ms) during ${result.interactions.toLocaleString('en-US')} simulated interactions of the demo (predict a slate of 8, render, observe 8).`,
    title: 'Main thread during the demo loop',
    results: result,
    floors: [
      {
        name: `long tasks during ${interactions} interactions = 0`,
        pass: result.observerWorks && result.longTasks === 0,
        measured: result.observerWorks ? String(result.longTasks) : 'observer saw no control task',
      },
    ],
    markdown: [
      'The demo page’s own loop (src/demo: session, feed, chart) with the demo model, in',
      'headless Chromium: each interaction predicts a slate of 8 catalog items in the worker,',
      'ranks and renders them, observes the simulated person’s 8 reactions (durable in IndexedDB)',
      'and redraws the chart. A PerformanceObserver counts long tasks (> 50 ms) on the main',
      'thread after a warm-up of 10 interactions; a deliberate 80 ms block just before must be',
      'reported (the control), so that zero means none happened, not that none were seen.',
      '',
      '| interactions | reactions | long tasks | longest | round p50 | round p95 | round max | wall |',
      '| --- | --- | --- | --- | --- | --- | --- | --- |',
      `| ${result.interactions} | ${result.reactions - 80} | ${result.longTasks} | ${result.longTasks ? ms(result.longestTaskMs) : '—'} | ${ms(result.round.p50)} | ${ms(result.round.p95)} | ${ms(result.round.max)} | ${result.seconds.toFixed(1)} s |`,
    ].join('\n'),
  };
}
