// idle: a learner started with sync and rollout on (live events), then nothing: bench/idle.ts
// measures the CPU this page's threads use and the timers its worker fires. The page starts
// the learner, predicts once, and exposes `timers()`: the worker's fired timers so far.
//
// Query: server, appKey, publicKey (base64 raw Ed25519).

import { createLearner } from '../../src/client/index.ts';
import { publishResult } from './bench_page.ts';

const params = new URLSearchParams(location.search);
const w = window as unknown as {
  timers?: () => Promise<Record<string, number>>;
};

const channel = new BroadcastChannel('localfit-bench-timers');
w.timers = () =>
  new Promise((resolve) => {
    // The channel also hears this page's own request: only the worker's answer has `fired`.
    channel.onmessage = (event) => {
      if (event.data?.fired) resolve(event.data.fired);
    };
    new BroadcastChannel('localfit-bench-timers').postMessage('count');
  });

async function run() {
  const learner = await createLearner({
    model: { url: '/models/demo/model.onnx' },
    store: { name: `bench-idle-${crypto.randomUUID()}` },
    sync: { url: params.get('server') ?? '', appKey: params.get('appKey') ?? '' },
    rollout: { publicKey: params.get('publicKey') ?? '' },
    worker: new Worker(new URL('./idle.worker.ts', import.meta.url), { type: 'module' }),
  });
  const example: Record<string, number[]> = {};
  for (const input of [...learner.spec.inputs, ...(learner.spec.raw ?? [])])
    example[input.name] = new Array(input.size).fill(0.5);
  await learner.predict(example);
  await learner.checkForUpdates();
  const stats = await learner.stats();
  return { versionId: stats.versionId, eventsConnected: stats.rollout?.manifest };
}

await publishResult(run);
