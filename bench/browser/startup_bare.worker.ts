/// <reference lib="webworker" />
// The bare path bench/startup.ts compares the learner's start with: a worker that imports
// onnxruntime-web (the same build and wasm the learner's worker uses, configured the same
// way), fetches the model, creates an InferenceSession with the learner's options and runs it
// once — with `database`, also opening an IndexedDB database and reading one key, at the same
// time as the model loads (what a careful hand-written worker would do).
import { openDB } from 'idb';
import { InferenceSession, Tensor } from 'onnxruntime-web/wasm';
import { configureOrt } from '../../src/backbone/configure_ort.ts';

const epochNow = () => performance.timeOrigin + performance.now();
const evaluatedAt = epochNow();
configureOrt();

interface Phase {
  name: string;
  start: number;
  end: number;
}

async function timed<T>(phases: Phase[], name: string, task: () => Promise<T>): Promise<T> {
  const start = epochNow();
  const result = await task();
  phases.push({ name, start, end: epochNow() });
  return result;
}

self.onmessage = async (event: MessageEvent<{ modelUrl: string; database?: string }>) => {
  const { modelUrl, database } = event.data;
  const phases: Phase[] = [
    { name: 'worker script', start: performance.timeOrigin, end: evaluatedAt },
  ];
  try {
    const session = timed(
      phases,
      'model fetch',
      async () => new Uint8Array(await (await fetch(modelUrl)).arrayBuffer()),
    ).then((bytes) =>
      timed(phases, 'session create', () =>
        InferenceSession.create(bytes, {
          executionProviders: ['wasm'],
          graphOptimizationLevel: 'all',
        }),
      ),
    );
    const opened = database
      ? timed(phases, 'database open', async () => {
          const db = await openDB(database, 1, {
            upgrade: (upgrading) => upgrading.createObjectStore('state'),
          });
          await db.get('state', 'head');
          return db;
        })
      : undefined;
    const [ready] = await Promise.all([session, opened]);
    const feeds: Record<string, Tensor> = {};
    for (const input of ready.inputMetadata) {
      if (!input.isTensor) throw new Error(`input ${input.name} is not a tensor`);
      const width = Number(input.shape[input.shape.length - 1]);
      feeds[input.name] = new Tensor('float32', new Float32Array(width), [1, width]);
    }
    const output = await timed(phases, 'first run', () => ready.run(feeds));
    const first = Object.values(output)[0]?.data as Float32Array;
    (await opened)?.close();
    self.postMessage({ phases, value: first[0] });
  } catch (error) {
    self.postMessage({ error: error instanceof Error ? error.message : String(error) });
  }
};
