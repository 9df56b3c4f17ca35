/// <reference lib="webworker" />
// latency.predict, in the worker: the learner's pipeline (feature checks, onnxruntime-web,
// online scaler and head for every candidate) against a bare InferenceSession.run on the
// same model in the same worker, which is the least any ONNX-based predictor pays.
import wasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.wasm?url';
import { InferenceSession, Tensor } from 'onnxruntime-web/wasm';
import { loadBackbone } from '../../src/backbone/backbone.ts';
import { configureOrt } from '../../src/backbone/configure_ort.ts';
import { packExamples } from '../../src/backbone/features.ts';
import { Pipeline } from '../../src/runtime/pipeline.ts';
import { candidates, MODEL_URL } from './predict_examples.ts';

const BLOCK = 10;

async function measure(rounds: number, calls: number) {
  configureOrt(wasmUrl);
  const bytes = new Uint8Array(await (await fetch(MODEL_URL)).arrayBuffer());
  const backbone = await loadBackbone(bytes);
  const pipeline = Pipeline.create(backbone);
  const session = await InferenceSession.create(bytes, {
    executionProviders: ['wasm'],
    graphOptimizationLevel: 'all',
  });
  const { spec } = backbone;
  const output = spec.output.name;
  const result: Record<string, { pipeline: number[][]; bare: number[][]; embed: number[][] }> = {};
  for (const n of [1, 100]) {
    const batch = packExamples(spec, candidates(spec, n, 11 + n));
    const bare = async () => {
      const feeds: Record<string, Tensor> = {};
      for (const input of spec.inputs) {
        feeds[input.name] = new Tensor('float32', batch.columns[input.name], [n, input.size]);
      }
      const out = await session.run(feeds, [output]);
      return (out[output].data as Float32Array)[0];
    };
    const own = async () => (await pipeline.predict(batch)).scores[0];
    // The backbone alone (its session.run and output checks): splits the pipeline's extra time
    // between the model wrapper and the head.
    const embed = async () => (await backbone.embed(batch))[0];
    for (let i = 0; i < 30; i++) {
      await bare();
      await own();
    }
    // Chromium coarsens performance.now() to 0.1 ms without cross-origin isolation, finer
    // than one call takes: time blocks of BLOCK calls, alternating the two block by block so
    // a change in the machine's speed affects both alike. A sample is one block's time per call.
    const block = async (call: () => Promise<number>) => {
      const start = performance.now();
      for (let i = 0; i < BLOCK; i++) await call();
      return (performance.now() - start) / BLOCK;
    };
    const times = { pipeline: [] as number[][], bare: [] as number[][], embed: [] as number[][] };
    for (let round = 0; round < rounds; round++) {
      const p: number[] = [];
      const b: number[] = [];
      const e: number[] = [];
      for (let i = 0; i < Math.max(1, calls / BLOCK); i++) {
        b.push(await block(bare));
        p.push(await block(own));
        e.push(await block(embed));
      }
      times.pipeline.push(p);
      times.bare.push(b);
      times.embed.push(e);
    }
    result[`n${n}`] = times;
  }
  await session.release();
  await backbone.release();
  return result;
}

self.onmessage = async ({ data }: MessageEvent<{ rounds: number; calls: number }>) => {
  try {
    self.postMessage({ result: await measure(data.rounds, data.calls) });
  } catch (error) {
    self.postMessage({ error: error instanceof Error ? error.message : String(error) });
  }
};
