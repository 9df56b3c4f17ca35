// main_thread: long tasks (> 50 ms, PerformanceObserver 'longtask') on the main thread while
// the demo's own loop runs `interactions` times with the demo model: a slate of 8 catalog items
// predicted, ranked and rendered as the feed, the simulated person's reactions observed (durable
// in IndexedDB), the chart redrawn. Design invariant 4: the main thread never waits on learning.

import { createLearner } from '../../src/client/index.ts';
import { MetricChart } from '../../src/demo/chart.ts';
import { renderFeed } from '../../src/demo/feed.ts';
import { DemoSession } from '../../src/demo/session.ts';
import { createWorld, DEMO_ITEMS, DEMO_SEED, SimulatedUser } from '../../src/demo/world.ts';
import type { HeadJson } from '../../src/learn/head_json.ts';
import { headFromJson } from '../../src/learn/head_json.ts';
import { deleteStore } from '../../src/store/index.ts';
import { quantile } from '../lib/stats.ts';

const params = new URLSearchParams(location.search);
const interactions = Number(params.get('interactions') ?? 1000);
const w = window as unknown as { benchResult?: unknown; benchError?: string };

async function run() {
  const name = `bench-main-thread-${crypto.randomUUID()}`;
  const world = createWorld(DEMO_SEED, DEMO_ITEMS);
  const head = headFromJson((await (await fetch('/models/demo/head.json')).json()) as HeadJson);
  const learner = await createLearner({
    model: { url: '/models/demo/model.onnx' },
    head,
    scale: false,
    store: { name },
  });
  const session = new DemoSession(learner, world, new SimulatedUser(world, 7));
  const feed = document.getElementById('feed') as HTMLOListElement;
  const chart = new MetricChart(document.getElementById('chart') as HTMLElement);
  const round = async () => {
    const slate = await session.slate();
    renderFeed(
      feed,
      slate.items.map((index, k) => ({ index, item: world.items[index], score: slate.scores[k] })),
      () => {},
    );
    await session.react(slate);
    chart.update(session.series);
    // Yield to rendering, as the page does between rounds.
    await new Promise((resolve) => requestAnimationFrame(resolve));
  };
  // Warm-up (first predictions, first IndexedDB writes) is not counted.
  for (let i = 0; i < 10; i++) await round();

  const longTasks: number[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) longTasks.push(entry.duration);
  });
  observer.observe({ type: 'longtask' });
  // Control: a deliberate 80 ms block must be seen, or a zero below would mean nothing.
  const blockUntil = performance.now() + 80;
  while (performance.now() < blockUntil) {
    // busy
  }
  await new Promise((resolve) => setTimeout(resolve, 100));
  for (const entry of observer.takeRecords()) longTasks.push(entry.duration);
  const observerWorks = longTasks.length > 0;
  longTasks.length = 0;
  const times: number[] = [];
  const start = performance.now();
  for (let i = 0; i < interactions; i++) {
    const t0 = performance.now();
    await round();
    times.push(performance.now() - t0);
  }
  const seconds = (performance.now() - start) / 1000;
  // Entries are delivered asynchronously: let the last ones arrive.
  await new Promise((resolve) => setTimeout(resolve, 100));
  for (const entry of observer.takeRecords()) longTasks.push(entry.duration);
  observer.disconnect();
  await learner.close();
  await deleteStore(name);
  const sorted = [...times].sort((a, b) => a - b);
  return {
    interactions,
    observerWorks,
    reactions: session.reactions,
    seconds,
    longTasks: longTasks.length,
    longTaskMs: longTasks.reduce((a, b) => a + b, 0),
    longestTaskMs: longTasks.length ? Math.max(...longTasks) : 0,
    round: {
      p50: quantile(sorted, 0.5),
      p95: quantile(sorted, 0.95),
      max: sorted[sorted.length - 1],
    },
  };
}

run().then(
  (result) => {
    w.benchResult = result;
  },
  (error: unknown) => {
    w.benchError = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  },
);
