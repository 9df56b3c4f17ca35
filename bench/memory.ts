import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserSession } from './lib/browser.ts';
import { runBenchPage } from './lib/browser.ts';
import { startFleetServer } from './lib/fleet_server.ts';
import type { Section } from './lib/report.ts';
import { progress } from './lib/report.ts';
import { heapBreakdown, WorkerInspector } from './lib/worker_inspector.ts';

interface Checkpoint {
  label: string;
  /** The worker's V8 heap in use after a full collection (Runtime.getHeapUsage). */
  heapBytes: number;
  /** Of the heap snapshot: the JS heap's objects, strings, arrays, closures. */
  objectBytes: number;
  /** Of the heap snapshot: backing stores (ArrayBuffers, wasm memory) and Blink's objects. */
  nativeBytes: number;
  /** Of the heap snapshot: bytecode, machine code and feedback (grows as code warms up). */
  codeBytes: number;
  /** Every WebAssembly.Memory of the worker (bench/browser/wasm_memory.ts). */
  wasmBytes: number;
}

type Measured = 'objectBytes' | 'nativeBytes' | 'wasmBytes';

/** A folder to keep each checkpoint's heap snapshot in, to open in DevTools' Memory panel. */
const SNAPSHOTS = process.env.LOCALFIT_BENCH_HEAP_SNAPSHOTS;
/** Within this share of the first checkpoint counts as no growth (the 5 %). */
const NOISE = 0.05;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(2)} MB`;
const change = (value: number, base: number) =>
  `${value >= base ? '+' : ''}${(((value - base) / base) * 100).toFixed(1)} %`;

/**
 * memory: the worker's JS heap and wasm memory over a long session, in Chromium against a real
 * sync server: after 1,000 observes, after 10,000, and after 10 version swaps (each a new
 * model downloaded, verified, served and then dropped). Each reading follows two full garbage
 * collections in the worker, so what is left is what the learner holds on to.
 *
 * The floors are on the heap's objects and native memory, not on the whole V8 heap: V8 also keeps the code it
 * compiles there, and that part grows while the session first runs each path (observe's
 * optimised tiers, then the swap's code: +0.1 MB by 2,000 observes, +0.1 MB more over the
 * first swaps, all `code` nodes in the snapshots' diff) — bounded by the code there is, not
 * by the session's length. Both are reported. Wasm memory never shrinks, so it shows the most
 * onnxruntime-web ever needed.
 *
 * What moves the objects between runs (+2 % to +8 % by 10,000 observes, measured): idb's
 * `transformCache` and `reverseTransformCache` WeakMaps, whose tables grow to the most requests
 * seen between two collections (131 KB → 262 KB holding ~500 live entries) and do not shrink
 * back. Bounded by how many requests run between two collections, not by the session's length;
 * `LOCALFIT_BENCH_HEAP_SNAPSHOTS=<dir>` keeps the snapshots to compare in DevTools.
 */
export async function memory(quick: boolean, browser: BrowserSession): Promise<Section> {
  const observes = quick ? 2_000 : 10_000;
  const swaps = quick ? 2 : 10;
  progress(`memory: ${observes.toLocaleString('en-US')} observes, then ${swaps} swaps, Chromium…`);
  const fleet = await startFleetServer();
  const context = await browser.browser.newContext();
  const page = await context.newPage();
  const checkpoints: Checkpoint[] = [];
  let inspector: WorkerInspector | undefined;
  try {
    await page.exposeFunction('measureWorker', async (label: string) => {
      inspector ??= await WorkerInspector.attach(browser.browser, 'memory.worker');
      // Twice: the first collection may only queue finalisers whose garbage the second takes.
      await inspector.send('HeapProfiler.collectGarbage');
      await inspector.send('HeapProfiler.collectGarbage');
      const { usedSize } = await inspector.send<{ usedSize: number }>('Runtime.getHeapUsage');
      const snapshot = await inspector.heapSnapshot();
      const { objects, native, code } = heapBreakdown(snapshot);
      const wasm = await inspector.evaluate<{ bytes: number; memories: number }>(
        'benchWasmBytes()',
      );
      if (wasm.memories === 0) throw new Error('the worker instantiated no wasm memory');
      checkpoints.push({
        label,
        heapBytes: usedSize,
        objectBytes: objects,
        nativeBytes: native,
        codeBytes: code,
        wasmBytes: wasm.bytes,
      });
      if (SNAPSHOTS)
        writeFileSync(join(SNAPSHOTS, `memory-${checkpoints.length}.heapsnapshot`), snapshot);
      progress(
        `memory ${label}: objects ${mb(objects)}, native ${mb(native)}, code ${mb(code)}, wasm ${mb(wasm.bytes)}`,
      );
    });
    const query = new URLSearchParams(fleet.query);
    query.set('observes', String(observes));
    query.set('swaps', String(swaps));
    await runBenchPage(
      { page, url: browser.url },
      `bench/browser/memory.html?${query}`,
      quick ? 300_000 : 900_000,
    );
  } finally {
    await inspector?.detach();
    await context.close();
    await fleet.close();
  }
  const [first, ...later] = checkpoints;
  if (!first || later.length !== 2) throw new Error(`memory: ${checkpoints.length} checkpoints`);
  const growth = (key: Measured) =>
    Math.max(...later.map((c) => (c[key] - first[key]) / first[key]));
  const changes = (key: keyof Checkpoint) =>
    later.map((c) => change(c[key] as number, first[key] as number)).join(', ');
  const cell = (c: Checkpoint, key: keyof Checkpoint) =>
    `${mb(c[key] as number)} (${change(c[key] as number, first[key] as number)})`;
  const row = (c: Checkpoint) =>
    `| ${c.label} | ${cell(c, 'objectBytes')} | ${cell(c, 'nativeBytes')} | ${cell(c, 'codeBytes')} | ${cell(c, 'heapBytes')} | ${cell(c, 'wasmBytes')} |`;
  const last = later[later.length - 1];
  const floor = (name: string, key: Measured) => ({
    name: `memory: ${name} within ${NOISE * 100} % of its value after 1,000 observes`,
    pass: growth(key) <= NOISE,
    measured: changes(key),
  });
  return {
    key: 'memory',
    title: 'Memory over a long session',
    headline: `Worker memory after ${observes.toLocaleString('en-US')} observes and ${swaps} swaps, against the reading after 1,000 observes: JS objects ${change(last.objectBytes, first.objectBytes)}, wasm ${change(last.wasmBytes, first.wasmBytes)} (compiled code ${change(last.codeBytes, first.codeBytes)}).`,
    results: {
      checkpoints,
      objectGrowth: growth('objectBytes'),
      wasmGrowth: growth('wasmBytes'),
      heapChange: changes('heapBytes'),
    },
    floors: [
      floor('worker JS objects', 'objectBytes'),
      floor('worker native memory (ArrayBuffers, backing stores)', 'nativeBytes'),
      floor('wasm memory', 'wasmBytes'),
    ],
    markdown: [
      'A learner with sync and rollout on (live events) in a Chromium worker, against a real sync',
      `server on 127.0.0.1: ${observes.toLocaleString('en-US')} observes (50 in flight at a time, each stored and learned),`,
      `then ${swaps} swaps, each a new model published at weight 1, downloaded, verified and served,`,
      'then rolled back and dropped. Each reading follows two full garbage collections in the',
      "worker (DevTools protocol); a heap snapshot splits the worker's memory into JS objects (what",
      'the learner holds on to, where a leak would show), native memory those objects hold',
      "(ArrayBuffers such as model bytes, wasm memory's backing store, Blink's objects) and compiled",
      'code (bytecode, machine code, feedback: it grows while each path first runs and tiers up,',
      'bounded by the code there is, so it has no floor; "V8 heap in use" is objects plus code).',
      "What moves JS objects from run to run is idb's WeakMap caches, whose tables grow to the most",
      'requests seen between two collections and stay that size (bounded, not held by the learner).',
      "Wasm memory is the size of every `WebAssembly.Memory` the worker's modules hold (it never",
      'shrinks, so it is the most onnxruntime-web needed).',
      '',
      '| checkpoint | JS objects | native (backing stores) | compiled code | V8 heap in use | wasm memory |',
      '| --- | --- | --- | --- | --- | --- |',
      ...checkpoints.map(row),
    ].join('\n'),
  };
}
