// swap: a learner in Chromium follows a real sync server (live events) while four loops predict
// continuously; the page, acting as the operator, publishes a new version at weight 1 again
// and again, waits for the device to serve it, rolls it back on the server and waits for the
// device to drop it. It records every prediction's start, end and version, and each swap's
// "bytes verified → serving" time as the learner reports it (the `rollout` event's swapMs).
//
// Query: server, appKey, publicKey (base64 raw Ed25519), admin (token), swaps, loops, batch.

import { createLearner } from '../../src/client/index.ts';
import { deleteStore } from '../../src/store/index.ts';
import { passingBackbone, world } from '../../test/browser/sync/rollout_models.ts';
import { publishResult } from './bench_page.ts';
import { swapCycle } from './operator.ts';

const params = new URLSearchParams(location.search);
const server = params.get('server') ?? '';
const appKey = params.get('appKey') ?? '';
const publicKey = params.get('publicKey') ?? '';
const operator = { server, adminToken: params.get('admin') ?? '' };
const swaps = Number(params.get('swaps') ?? 5);
const loops = Number(params.get('loops') ?? 4);
const batch = Number(params.get('batch') ?? 16);
/** Predictions completed between swaps (and before the first): the "outside" sample. */
const between = Number(params.get('between') ?? 100);

interface Call {
  start: number;
  end: number;
  versionId: string | null;
  failed: boolean;
}

interface Window {
  from: number;
  to: number;
}

async function run() {
  const name = `bench-swap-${crypto.randomUUID()}`;
  const learner = await createLearner({
    // The bytes the server's production v1 was published from (bench/swap.ts): adopted as is.
    model: { bytes: passingBackbone(2) },
    store: { name },
    sync: { url: server, appKey },
    rollout: { publicKey, live: true },
  });
  const rolledBackByDevice: string[] = [];
  learner.on('rollout', (event) => {
    if (event.action === 'rolled_back' && event.reason?.startsWith('guardrail'))
      rolledBackByDevice.push(`${event.versionId}: ${event.reason}`);
  });
  try {
    await learner.checkForUpdates();
    const first = (await learner.stats()).versionId;
    if (first !== 'v1') throw new Error(`the device serves ${first}, not the server's v1`);

    const probe = world(11, batch).map((entry) => entry.example);
    for (let i = 0; i < 20; i++) await learner.predict(probe);

    const calls: Call[] = [];
    const errors: string[] = [];
    const waiters: { count: number; resolve: () => void }[] = [];
    let running = true;
    const loop = async () => {
      while (running) {
        const start = performance.now();
        let versionId: string | null = null;
        let failed = false;
        try {
          const result = await learner.predict(probe);
          versionId = result.versionId;
          if (!Array.from(result.scores).every(Number.isFinite)) {
            failed = true;
            errors.push(`non-finite score from ${versionId}`);
          }
        } catch (error) {
          failed = true;
          errors.push(error instanceof Error ? error.message : String(error));
        }
        calls.push({ start, end: performance.now(), versionId, failed });
        for (const waiter of waiters.splice(0)) {
          if (calls.length >= waiter.count) waiter.resolve();
          else waiters.push(waiter);
        }
      }
    };
    /** Resolves once `more` further predictions have completed: load, not time, paces the run. */
    const completed = (more: number) =>
      new Promise<void>((resolve) => waiters.push({ count: calls.length + more, resolve }));
    const workers = Array.from({ length: loops }, () => loop());

    const swapMs: number[] = [];
    const stageMs: number[] = [];
    const dropMs: number[] = [];
    const swapWindows: Window[] = [];
    const updateWindows: Window[] = [];
    const published: string[] = ['v1'];
    await completed(between);
    for (let k = 1; k <= swaps; k++) {
      const cycle = await swapCycle(operator, learner, k, published, () => completed(between));
      swapMs.push(cycle.swapMs);
      stageMs.push(cycle.servingAt - cycle.publishedAt);
      swapWindows.push({ from: cycle.servingAt - cycle.swapMs, to: cycle.servingAt });
      updateWindows.push({ from: cycle.publishedAt, to: cycle.servingAt });
      dropMs.push(cycle.droppedAt - cycle.rollbackAt);
      updateWindows.push({ from: cycle.rollbackAt, to: cycle.droppedAt });
      await completed(between);
    }
    running = false;
    await Promise.all(workers);

    const overlaps = (call: Call, windows: Window[]) =>
      windows.some((win) => call.start < win.to && call.end > win.from);
    const latency = (call: Call) => call.end - call.start;
    const ok = calls.filter((call) => !call.failed);
    const unnamed = calls.filter(
      (call) => !call.failed && (call.versionId === null || !published.includes(call.versionId)),
    ).length;
    const served = new Set(ok.map((call) => call.versionId));
    return {
      swaps,
      loops,
      batch,
      swapMs,
      stageMs,
      dropMs,
      predictions: calls.length,
      failed: calls.filter((call) => call.failed).length,
      errors: [...new Set(errors)].slice(0, 5),
      unnamed,
      versionsServed: served.size,
      guardrailRollbacks: rolledBackByDevice,
      latency: {
        duringSwap: ok.filter((call) => overlaps(call, swapWindows)).map(latency),
        duringUpdate: ok.filter((call) => overlaps(call, updateWindows)).map(latency),
        outside: ok.filter((call) => !overlaps(call, updateWindows)).map(latency),
      },
    };
  } finally {
    await learner.close();
    await deleteStore(name);
  }
}

await publishResult(run);
