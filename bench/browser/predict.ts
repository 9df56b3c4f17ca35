// latency.predict, main thread: learner.predict() round trips (main thread → worker →
// onnxruntime + head → main thread) for 1 and 100 candidates; then the worker-side
// comparison of the pipeline against a bare session.run (predict.worker.ts).

import { createLearner } from '../../src/client/index.ts';
import { deleteStore } from '../../src/store/index.ts';
import { candidates, MODEL_URL } from './predict_examples.ts';

const params = new URLSearchParams(location.search);
const rounds = Number(params.get('rounds') ?? 5);
const calls = Number(params.get('calls') ?? 200);
const w = window as unknown as { benchResult?: unknown; benchError?: string };

async function roundTrips() {
  const name = `bench-predict-${crypto.randomUUID()}`;
  const learner = await createLearner({ model: { url: MODEL_URL }, store: { name } });
  try {
    const result: Record<string, number[][]> = {};
    for (const n of [1, 100]) {
      const pool = candidates(learner.spec, n * 4, 7 + n);
      const pick = (i: number) => pool.slice((i % 4) * n, (i % 4) * n + n);
      for (let i = 0; i < 30; i++) await learner.predict(pick(i));
      const perRound: number[][] = [];
      for (let round = 0; round < rounds; round++) {
        const times: number[] = [];
        for (let i = 0; i < calls; i++) {
          const batch = pick(i);
          const start = performance.now();
          if (n === 1) await learner.predict(batch[0]);
          else await learner.predict(batch);
          times.push(performance.now() - start);
        }
        perRound.push(times);
      }
      result[`n${n}`] = perRound;
    }
    return result;
  } finally {
    await learner.close();
    await deleteStore(name);
  }
}

function inWorker(): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./predict.worker.ts', import.meta.url), { type: 'module' });
    worker.onmessage = ({ data }) => {
      worker.terminate();
      if (data.error) reject(new Error(data.error));
      else resolve(data.result);
    };
    worker.onerror = (event) => reject(new Error(event.message || 'worker failed to start'));
    worker.postMessage({ rounds, calls });
  });
}

try {
  w.benchResult = { roundTrips: await roundTrips(), inWorker: await inWorker() };
} catch (error) {
  w.benchError = error instanceof Error ? error.message : String(error);
}
