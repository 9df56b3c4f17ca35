import type { BrowserContext, Page } from 'playwright';
import type { BrowserSession } from './lib/browser.ts';
import { runBenchPage } from './lib/browser.ts';
import type { BuiltPages } from './lib/built_pages.ts';
import { buildPages } from './lib/built_pages.ts';
import type { Section } from './lib/report.ts';
import { fmt, progress } from './lib/report.ts';
import type { Figure } from './lib/stats.ts';
import { summarise } from './lib/stats.ts';
import { timelineChart } from './lib/svg.ts';

/** One start, from bench/browser/startup.ts: ms on the page's clock from just before `new Worker`. */
interface Start {
  totalMs: number;
  phases: { name: string; start: number; end: number }[];
  replayed?: number;
}

type Path = 'learner' | 'bare' | 'bare-idb';

/** One measured path in one setting: a browser context, the page's query, its starts. */
interface Lane {
  label: string;
  path: Path;
  query: string;
  context?: BrowserContext;
  page?: Page;
  starts: Start[];
}

const ms = (value: number) => `${value.toFixed(0)} ms`;

async function startOnce(pages: BuiltPages, page: Page, query: string): Promise<Start> {
  return await runBenchPage<Start>(
    { page, url: pages.url },
    `bench/browser/startup.html?${query}`,
    600_000,
  );
}

/** The median start and end of each phase (on the start's clock), in first-start order. */
function medianPhases(starts: readonly Start[]) {
  const names = [...new Set(starts.flatMap((s) => s.phases.map((p) => p.name)))];
  return names.map((name) => {
    const found = starts.flatMap((s) => s.phases.filter((p) => p.name === name));
    const start = summarise(found.map((p) => p.start)).median;
    const end = summarise(found.map((p) => p.end)).median;
    const duration = summarise(found.map((p) => p.end - p.start));
    return { name, start, end, duration };
  });
}

/** The median of per-round ratios a/b (each round measured both, interleaved) with its range. */
function pairedRatio(a: readonly Start[], b: readonly Start[]): Figure {
  return summarise(a.map((start, i) => start.totalMs / b[i].totalMs));
}

/**
 * startup: `createLearner` until its first `predict` resolves, in Chromium on a production
 * build, against the bare path in the same run and page setup — a worker that imports
 * onnxruntime-web, creates an InferenceSession on the same model and runs it once — and that
 * plus opening IndexedDB. Cold: every start in a fresh browser context (empty HTTP cache,
 * Cache Storage and IndexedDB). Warm: each path in its own context, started once before
 * measuring, the learner with state (outcomes learned, a current snapshot), and a learner
 * with 10,000 outcomes and a snapshot 50 outcomes old. The paths are interleaved round by
 * round, in a rotating order; ratios are per round, medians with their range.
 */
export async function startup(quick: boolean, session: BrowserSession): Promise<Section> {
  const rounds = quick ? 1 : 11;
  const seeded = quick ? 200 : 10_000;
  progress(`startup: building the bench pages (vite build)…`);
  const pages = await buildPages(['bench/browser/startup.html']);
  const { browser } = session;
  const cold: Lane[] = [
    { label: 'cold: learner', path: 'learner', query: 'mode=learner', starts: [] },
    { label: 'cold: bare onnxruntime-web', path: 'bare', query: 'mode=bare', starts: [] },
    { label: 'cold: bare + IndexedDB', path: 'bare-idb', query: 'mode=bare-idb', starts: [] },
  ];
  const warm: Lane[] = [
    { label: 'warm: learner', path: 'learner', query: 'mode=learner', starts: [] },
    {
      label: `warm: learner, ${seeded.toLocaleString('en-US')} outcomes`,
      path: 'learner',
      query: 'mode=learner',
      starts: [],
    },
    { label: 'warm: bare onnxruntime-web', path: 'bare', query: 'mode=bare', starts: [] },
    { label: 'warm: bare + IndexedDB', path: 'bare-idb', query: 'mode=bare-idb', starts: [] },
  ];
  try {
    progress(`startup: ${rounds} cold rounds (a fresh browser context per start)…`);
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < cold.length; k++) {
        const lane = cold[(round + k) % cold.length];
        const context = await browser.newContext();
        try {
          lane.starts.push(await startOnce(pages, await context.newPage(), lane.query));
        } finally {
          await context.close();
        }
      }
    }
    progress(`startup: warm contexts, seeding a learner with ${seeded} outcomes…`);
    for (const lane of warm) {
      lane.context = await browser.newContext();
      lane.page = await lane.context.newPage();
    }
    const [learner, big] = warm;
    await startOnce(pages, learner.page!, 'mode=seed&outcomes=200&snapshotAge=0');
    await startOnce(pages, big.page!, `mode=seed&outcomes=${seeded}&snapshotAge=50`);
    // Each path once before measuring: the HTTP cache, V8's wasm code cache and IndexedDB warm
    // (seeding did it for the learners; quick mode counts on that).
    for (const lane of warm.filter((lane) => !quick || lane.path !== 'learner'))
      await startOnce(pages, lane.page!, lane.query);
    progress(`startup: ${rounds} warm rounds…`);
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < warm.length; k++) {
        const lane = warm[(round + k) % warm.length];
        lane.starts.push(await startOnce(pages, lane.page!, lane.query));
      }
    }
  } finally {
    for (const lane of warm) await lane.context?.close();
    await pages.close();
  }

  const lanes = [...cold, ...warm];
  const total = (lane: Lane) => summarise(lane.starts.map((s) => s.totalMs));
  const coldRatio = pairedRatio(cold[0].starts, cold[1].starts);
  const warmRatio = pairedRatio(warm[0].starts, warm[3].starts);
  const bigRatio = pairedRatio(warm[1].starts, warm[3].starts);
  const replayed = summarise(warm[1].starts.map((s) => s.replayed ?? 0)).median;
  const breakdown = lanes.map((lane) => ({ lane, phases: medianPhases(lane.starts) }));
  const results = {
    rounds,
    seededOutcomes: seeded,
    ratios: { coldVsBare: coldRatio, warmVsBareIdb: warmRatio, warmSeededVsBareIdb: bigRatio },
    replayedOnWarmSeededStart: replayed,
    paths: Object.fromEntries(
      breakdown.map(({ lane, phases }) => [
        lane.label,
        {
          totalMs: total(lane),
          phases: phases.map((p) => ({
            name: p.name,
            startMs: p.start,
            endMs: p.end,
            durationMs: p.duration,
          })),
        },
      ]),
    ),
  };
  const ratio = (figure: Figure) =>
    `${fmt.ratio(figure.median)} (${fmt.ratio(figure.min)} – ${fmt.ratio(figure.max)})`;
  const chart = timelineChart({
    title: 'Start to first prediction: where the time goes (medians)',
    xLabel: 'ms after the worker is created',
    rows: breakdown.map(({ lane, phases }) => ({
      label: `${lane.label} (${ms(total(lane).median)})`,
      bars: [
        ...phases.map((p) => ({ name: p.name, start: p.start, end: p.end })),
        // What the page waits for after the last phase the worker timed: the first predict.
        ...[
          {
            name: 'first predict (page)',
            start: Math.max(...phases.map((p) => p.end)),
            end: total(lane).median,
          },
        ].filter((bar) => bar.end > bar.start),
      ],
    })),
  });
  const phaseRows = breakdown.flatMap(({ lane, phases }) =>
    phases.map(
      (p) =>
        `| ${lane.label} | ${p.name} | ${ms(p.start)} → ${ms(p.end)} | ${fmt.figure(p.duration, ms)} |`,
    ),
  );
  return {
    key: 'startup',
    title: 'Start-up: createLearner to first prediction',
    headline: `Start to first prediction: warm ${ms(total(warm[0]).median)} (${fmt.ratio(warmRatio.median)} bare onnxruntime-web + IndexedDB), cold ${ms(total(cold[0]).median)} (${fmt.ratio(coldRatio.median)} bare onnxruntime-web), in Chromium on a production build.`,
    results,
    floors: [
      {
        name: 'startup: warm start ≤ 1.3× bare onnxruntime-web + IndexedDB open',
        pass: warmRatio.median <= 1.3,
        measured: ratio(warmRatio),
      },
      {
        name: 'startup: cold start ≤ 1.2× bare onnxruntime-web cold',
        pass: coldRatio.median <= 1.2,
        measured: ratio(coldRatio),
      },
    ],
    plots: [{ file: 'startup.svg', svg: chart }],
    markdown: [
      '`createLearner` (demo model, IndexedDB store, no sync) until the first `predict` resolves,',
      'timed on the page from just before the worker is created, in Chromium on a `vite build` of',
      'the bench page served on 127.0.0.1 with long-lived cache headers. The bare path is a worker',
      'that imports the same onnxruntime-web build, fetches the model, creates an InferenceSession',
      'with the same options and runs it once; "+ IndexedDB" also opens a database and reads one',
      'key, at the same time. Cold: a fresh browser context per start (empty HTTP cache, Cache',
      'Storage, IndexedDB). Warm: a context per path, started once first; the learner has state',
      `(200 outcomes, a current snapshot), and a second one ${seeded.toLocaleString('en-US')} outcomes with a snapshot 50`,
      `outcomes old (it replays ${replayed} on each start). ${rounds} rounds, paths interleaved in a rotating`,
      'order; ratios are per round (median, min – max).',
      '',
      '| path | start → first prediction |',
      '| --- | --- |',
      ...lanes.map((lane) => `| ${lane.label} | ${fmt.figure(total(lane), ms)} |`),
      '',
      '| ratio (per round) | median (min – max) |',
      '| --- | --- |',
      `| cold learner / cold bare | ${ratio(coldRatio)} |`,
      `| warm learner / warm bare + IndexedDB | ${ratio(warmRatio)} |`,
      `| warm learner with ${seeded.toLocaleString('en-US')} outcomes / warm bare + IndexedDB | ${ratio(bigRatio)} |`,
      '',
      '![Start-up breakdown](plots/startup.svg)',
      '',
      'The phases, as the worker times them (`stats().startup`, also `performance.measure`',
      'entries named `localfit:<phase>`): "worker script" is the worker being created, fetched and',
      'evaluated; "wasm fetch" is the browser\'s resource timing of onnxruntime\'s wasm (it compiles',
      'while it streams); "backbone load" is the session create (the wasm\'s instantiation on the',
      'first) and one warm-up run. Phases that overlap ran at the same time.',
      '',
      '| path | phase | median start → end | duration, median (min – max) |',
      '| --- | --- | --- | --- |',
      ...phaseRows,
    ].join('\n'),
  };
}
