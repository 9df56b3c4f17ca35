/**
 * Small, seeded backbones for tests (unit tests in Node, browser tests in Chromium): a real
 * ONNX file plus everything needed to check what the device does with it. Browser-safe.
 *
 * Default: inputs `item` (8) and `context` (4) → 16 ReLU → 8 Tanh (`embedding`), task 'binary'.
 */
import type { FeatureInput, FeatureSpec } from '../src/backbone/feature_spec.ts';
import type { Task } from '../src/learn/types.ts';
import { buildMlpModel } from './onnx/build_mlp.ts';
import { mlpForward } from './onnx/forward.ts';
import { initMlpParams } from './onnx/init.ts';
import { backboneInputSize, type MlpParams } from './onnx/mlp_params.ts';
import { mulberry32 } from './onnx/prng.ts';

export interface TestBackboneOptions {
  /** PRNG seed for the weights (and normalisation statistics); default 1. */
  seed?: number;
  /** Size of the `item` input; default 8. */
  inputSize?: number;
  /** Size of the `context` input; default 4, 0 for a model with the single input `item`. */
  contextSize?: number;
  /** Replaces the default inputs altogether (then inputSize/contextSize are ignored). */
  inputs?: FeatureInput[];
  /** Hidden layer width(s); default 16. An empty array gives a single Tanh layer. */
  hidden?: number | number[];
  /** Output (`embedding`) width; default 8. */
  embedding?: number;
  /** Raw features passed to the head: `true` adds `{ name: 'recency', size: 2 }`. */
  raw?: boolean | FeatureInput[];
  /** Give every input seeded `mean`/`std`, so the graph normalises them. Default false. */
  normalize?: boolean;
  task?: Task;
  classes?: (string | number)[];
}

export interface TestBackbone {
  bytes: Uint8Array;
  spec: FeatureSpec;
  params: MlpParams;
  /** What the model computes: [batch, embedding] for `inputs[name]` of [batch, size]. */
  forward(inputs: Record<string, Float32Array>, batch: number): Float32Array;
}

export function makeTestBackbone(options: TestBackboneOptions = {}): TestBackbone {
  const seed = options.seed ?? 1;
  const contextSize = options.contextSize ?? 4;
  let inputs: FeatureInput[] = options.inputs ?? [
    { name: 'item', size: options.inputSize ?? 8 },
    ...(contextSize > 0 ? [{ name: 'context', size: contextSize }] : []),
  ];
  if (options.normalize) {
    // A separate stream from the weights' so normalising does not change the weights.
    const random = mulberry32(seed ^ 0x5eed);
    inputs = inputs.map((input) => ({
      ...input,
      mean: Array.from({ length: input.size }, () => 4 * random() - 2),
      std: Array.from({ length: input.size }, () => 0.5 + 2 * random()),
    }));
  }
  const raw = options.raw === true ? [{ name: 'recency', size: 2 }] : options.raw || undefined;
  const spec: FeatureSpec = {
    inputs,
    output: { name: 'embedding', size: options.embedding ?? 8 },
    ...(raw ? { raw } : {}),
    task: options.task ?? 'binary',
    ...(options.classes ? { classes: options.classes } : {}),
  };
  const hidden = options.hidden ?? 16;
  const layerSizes = [backboneInputSize(spec), ...[hidden].flat(), spec.output.size];
  const params = initMlpParams(layerSizes, seed);
  const bytes = buildMlpModel(params, spec);
  return { bytes, spec, params, forward: (x, batch) => mlpForward(params, spec, x, batch) };
}
