/**
 * The MLP's forward pass in TypeScript: exactly the computation of the graph that
 * `buildMlpModel` writes, so tests can check an export against it, and tools without
 * onnxruntime (the CLI, benchmarks) can still run a backbone.
 *
 * onnxruntime stores every intermediate tensor as float32, so each step here rounds to
 * float32 too (Float32Array stores, Math.fround). Dot products accumulate in float64 and
 * round once: onnxruntime's blocked, FMA-using GEMM has its own summation order that no
 * scalar loop reproduces bit for bit, and the more exact sum stays the closer to it.
 */
import type { FeatureSpec } from '../../src/backbone/feature_spec.ts';
import { LearnerError } from '../../src/errors.ts';
import {
  backboneInputSize,
  checkMlpParams,
  type DenseLayer,
  type MlpParams,
} from './mlp_params.ts';

/**
 * `inputs[name]` holds `batch` rows of the spec input `name` ([batch, size], row-major).
 * Returns the output, [batch, spec.output.size] row-major.
 */
export function mlpForward(
  params: MlpParams,
  spec: FeatureSpec,
  inputs: Record<string, Float32Array>,
  batch: number,
): Float32Array {
  checkMlpParams(params, spec);
  if (!Number.isInteger(batch) || batch <= 0)
    throw new LearnerError('BAD_INPUT', `batch must be a positive integer, got ${batch}`);
  let h = concatenateInputs(spec, inputs, batch);
  for (const layer of params.layers) h = dense(layer, h, batch);
  return h;
}

/** The Sub/Div normalisation and the Concat on axis 1. */
function concatenateInputs(
  spec: FeatureSpec,
  inputs: Record<string, Float32Array>,
  batch: number,
): Float32Array {
  const width = backboneInputSize(spec);
  const out = new Float32Array(batch * width);
  let offset = 0;
  for (const input of spec.inputs) {
    const x = inputs[input.name];
    if (!(x instanceof Float32Array))
      throw new LearnerError('BAD_INPUT', `missing input ${input.name} (a Float32Array)`);
    if (x.length !== batch * input.size)
      throw new LearnerError(
        'BAD_INPUT',
        `input ${input.name} has ${x.length} values, expected ${batch}×${input.size}`,
      );
    // The graph's constants are float32, so the statistics are rounded the same way.
    const mean = input.mean?.map(Math.fround);
    const std = input.std?.map(Math.fround);
    for (let row = 0; row < batch; row++) {
      for (let j = 0; j < input.size; j++) {
        let v = x[row * input.size + j];
        if (mean) v = Math.fround(v - mean[j]);
        if (std) v = Math.fround(v / std[j]);
        out[row * width + offset + j] = v;
      }
    }
    offset += input.size;
  }
  return out;
}

/** Gemm (x · W + b) followed by the layer's activation, in float32 as onnxruntime computes it. */
export function dense(layer: DenseLayer, x: Float32Array, batch: number): Float32Array {
  const { inputSize, outputSize, weights, bias, activation } = layer;
  const out = new Float32Array(batch * outputSize);
  const sums = new Float64Array(outputSize);
  for (let row = 0; row < batch; row++) {
    sums.fill(0);
    for (let i = 0; i < inputSize; i++) {
      const xi = x[row * inputSize + i];
      if (xi === 0) continue;
      const base = i * outputSize;
      for (let o = 0; o < outputSize; o++) sums[o] += xi * weights[base + o];
    }
    for (let o = 0; o < outputSize; o++) {
      const linear = Math.fround(Math.fround(sums[o]) + bias[o]);
      out[row * outputSize + o] =
        activation === 'relu'
          ? Math.max(0, linear)
          : activation === 'tanh'
            ? Math.tanh(linear)
            : linear;
    }
  }
  return out;
}
