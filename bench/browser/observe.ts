// latency.observe_durable: from the app's observe() call to its promise resolving (the outcome
// is then committed to IndexedDB and learned), and the time to write a head snapshot.

import { mulberry32 } from '../../models/onnx/prng.ts';
import { makeTestBackbone } from '../../models/testing.ts';
import { createLearner } from '../../src/client/index.ts';
import { createHead } from '../../src/learn/index.ts';
import { deleteStore, openStore } from '../../src/store/index.ts';
import { quantile } from '../lib/stats.ts';

const params = new URLSearchParams(location.search);
const samples = Number(params.get('samples') ?? 300);
const w = window as unknown as { benchResult?: unknown; benchError?: string };

async function observeLatency() {
  const name = `bench-observe-${crypto.randomUUID()}`;
  const model = makeTestBackbone({ seed: 3, raw: true });
  const learner = await createLearner({ model: { bytes: model.bytes }, store: { name } });
  const random = mulberry32(5);
  const vector = (size: number) => Float32Array.from({ length: size }, () => random() * 2 - 1);
  const example = () => ({ item: vector(8), context: vector(4), recency: vector(2) });
  for (let i = 0; i < 30; i++) await learner.observe(example(), i % 2);
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const input = example();
    const start = performance.now();
    await learner.observe(input, i % 3 === 0 ? 1 : 0);
    times.push(performance.now() - start);
  }
  await learner.close();
  await deleteStore(name);
  return times;
}

async function snapshotLatency(dim: number) {
  const name = `bench-snapshot-${crypto.randomUUID()}`;
  const store = await openStore(name);
  const head = createHead({ task: 'binary', dim }).exportState();
  const times: number[] = [];
  for (let i = 0; i < Math.max(20, samples / 10); i++) {
    const start = performance.now();
    await store.snapshots.write({ versionId: 'bench', seq: i, head });
    times.push(performance.now() - start);
  }
  store.close();
  await deleteStore(name);
  return times;
}

const summary = (times: number[]) => ({
  p50: quantile(times, 0.5),
  p95: quantile(times, 0.95),
  max: Math.max(...times),
  n: times.length,
});

try {
  const observe = await observeLatency();
  w.benchResult = {
    observe: summary(observe),
    observeSamples: observe,
    snapshot: {
      d64: summary(await snapshotLatency(64)),
      d1024: summary(await snapshotLatency(1024)),
    },
  };
} catch (error) {
  w.benchError = error instanceof Error ? error.message : String(error);
}
