/** Shared helpers for the model tests: onnxruntime-web in Node and seeded inputs. */
import * as ort from 'onnxruntime-web';
import { mulberry32 } from '../../../models/onnx/prng.ts';
import type { FeatureSpec } from '../../../src/backbone/feature_spec.ts';

// The Node build of onnxruntime-web runs its wasm in-process; a single thread avoids
// spawning worker threads that would outlive the test file.
ort.env.wasm.numThreads = 1;

/** Runs `bytes` in onnxruntime-web once and returns the output tensor. */
export async function runOrt(
  bytes: Uint8Array,
  spec: FeatureSpec,
  inputs: Record<string, Float32Array>,
  batch: number,
): Promise<{ data: Float32Array; dims: readonly number[]; inputNames: readonly string[] }> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const feeds: Record<string, ort.Tensor> = {};
    for (const input of spec.inputs) {
      feeds[input.name] = new ort.Tensor('float32', inputs[input.name], [batch, input.size]);
    }
    const result = await session.run(feeds);
    const output = result[spec.output.name];
    return {
      data: output.data as Float32Array,
      dims: output.dims,
      inputNames: session.inputNames,
    };
  } finally {
    await session.release();
  }
}

/** Seeded random inputs for every backbone input of `spec`, uniform in [-scale, scale). */
export function randomInputs(spec: FeatureSpec, batch: number, seed: number, scale = 3) {
  const random = mulberry32(seed);
  const inputs: Record<string, Float32Array> = {};
  for (const input of spec.inputs) {
    inputs[input.name] = Float32Array.from(
      { length: batch * input.size },
      () => scale * (2 * random() - 1),
    );
  }
  return inputs;
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}
