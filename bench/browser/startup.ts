// startup: one start of one path, timed from just before its worker is created until its first
// prediction resolves, on this page's clock. bench/startup.ts opens this page in fresh (cold)
// or reused (warm) browser contexts and interleaves the paths.
//
// Query: mode = learner | bare | bare-idb | seed; store (database name); for seed: outcomes,
// snapshotAge (outcomes observed after the last snapshot).

import type { Example } from '../../src/backbone/features.ts';
import type { Learner } from '../../src/client/index.ts';
import { createLearner } from '../../src/client/index.ts';
import type { StartupPhase } from '../../src/runtime/startup_timing.ts';

const MODEL = '/models/demo/model.onnx';
const params = new URLSearchParams(location.search);
const mode = params.get('mode') ?? 'learner';
const store = params.get('store') ?? 'localfit-bench-startup';
const w = window as unknown as { benchResult?: unknown; benchError?: string };

/** A phase on this page's clock, in ms after the start (t0). */
interface Phase {
  name: string;
  start: number;
  end: number;
}

const onPage = (phases: StartupPhase[], t0: number): Phase[] =>
  phases.map(({ name, start, end }) => ({
    name,
    start: start - performance.timeOrigin - t0,
    end: end - performance.timeOrigin - t0,
  }));

function learnerWorker(): Worker {
  return new Worker(new URL('../../workers/learner.worker.ts', import.meta.url), {
    type: 'module',
    name: 'localfit-learner',
  });
}

/** A deterministic example of the spec's shape (inputs and raw), varied by `k`. */
function example(learner: Learner, k: number): Example {
  const out: Record<string, number[]> = {};
  for (const input of [...learner.spec.inputs, ...(learner.spec.raw ?? [])]) {
    out[input.name] = Array.from({ length: input.size }, (_, j) => ((k * 31 + j * 17) % 97) / 97);
  }
  return out;
}

async function learnerStart() {
  const t0 = performance.now();
  const worker = learnerWorker();
  const learner = await createLearner({ model: { url: MODEL }, store: { name: store }, worker });
  const { score } = await learner.predict(example(learner, 0));
  const totalMs = performance.now() - t0;
  const stats = await learner.stats();
  // Terminated, not closed: closing saves a snapshot, and the next warm start must find the
  // state as seeded (a snapshot `snapshotAge` outcomes old).
  worker.terminate();
  return {
    totalMs,
    score,
    replayed: stats.replayed,
    lastSeq: stats.lastSeq,
    phases: onPage(stats.startup ?? [], t0),
  };
}

async function bareStart(database: string | undefined) {
  const t0 = performance.now();
  const worker = new Worker(new URL('./startup_bare.worker.ts', import.meta.url), {
    type: 'module',
  });
  const reply = await new Promise<{ phases?: StartupPhase[]; value?: number; error?: string }>(
    (resolve) => {
      worker.onmessage = (event) => resolve(event.data);
      worker.postMessage({ modelUrl: MODEL, database });
    },
  );
  const totalMs = performance.now() - t0;
  worker.terminate();
  if (reply.error) throw new Error(reply.error);
  return { totalMs, score: reply.value, phases: onPage(reply.phases ?? [], t0) };
}

/** Gives the learner its state: `outcomes` learned, the last `snapshotAge` after its snapshot. */
async function seed() {
  const outcomes = Number(params.get('outcomes') ?? 0);
  const snapshotAge = Number(params.get('snapshotAge') ?? 0);
  const worker = learnerWorker();
  const learner = await createLearner({
    model: { url: MODEL },
    store: { name: store, snapshotEvery: 1e9, snapshotIntervalMs: 1e9 },
    worker,
  });
  const observeRange = async (from: number, to: number) => {
    const chunk = 64;
    for (let k = from; k < to; k += chunk) {
      const calls: Promise<unknown>[] = [];
      for (let j = k; j < Math.min(to, k + chunk); j++) {
        calls.push(learner.observe(example(learner, j), j % 3 === 0 ? 1 : 0, { id: `seed-${j}` }));
      }
      await Promise.all(calls);
    }
  };
  await observeRange(0, outcomes - snapshotAge);
  await learner.flush();
  await observeRange(outcomes - snapshotAge, outcomes);
  const stats = await learner.stats();
  worker.terminate(); // no closing snapshot: the last `snapshotAge` outcomes stay after it
  return { lastSeq: stats.lastSeq, snapshots: stats.snapshots };
}

try {
  w.benchResult =
    mode === 'seed'
      ? await seed()
      : mode === 'learner'
        ? await learnerStart()
        : await bareStart(mode === 'bare-idb' ? `${store}-bare` : undefined);
} catch (error) {
  w.benchError = error instanceof Error ? error.message : String(error);
}
