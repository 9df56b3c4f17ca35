// Backbones of known quality for the rollout tests, and a world whose outcomes they predict
// more or less well. The label depends on all eight inputs; a backbone passes some of them to
// the head (an identity layer on those, zeros elsewhere), so the more it passes, the better
// every head on top of it can do — a "better" and a "degraded" v2 in a way the devices'
// paired comparisons must discover from outcomes alone.

import { buildMlpModel } from '../../../models/onnx/build_mlp.ts';
import { mulberry32 } from '../../../models/onnx/prng.ts';
import type { FeatureSpec } from '../../../src/backbone/feature_spec.ts';
import type { Example } from '../../../src/client/index.ts';

export const WIDTH = 8;

export const rolloutSpec: FeatureSpec = {
  inputs: [{ name: 'item', size: WIDTH }],
  output: { name: 'embedding', size: WIDTH },
  task: 'binary',
};

/**
 * A backbone that passes inputs `0 … passes − 1` on (scaled into tanh's linear range) and
 * nothing else. `salt` changes the bytes, not the function, so versions of equal quality can
 * still be told apart by sha256.
 */
export function passingBackbone(passes: number, salt = 0, spec = rolloutSpec): Uint8Array {
  const weights = new Float32Array(WIDTH * spec.output.size);
  for (let i = 0; i < Math.min(passes, spec.output.size); i++) {
    weights[i * spec.output.size + i] = 0.5;
  }
  const bias = new Float32Array(spec.output.size);
  bias[spec.output.size - 1] = salt * 1e-7;
  return buildMlpModel(
    {
      layers: [
        { inputSize: WIDTH, outputSize: spec.output.size, weights, bias, activation: 'tanh' },
      ],
    },
    spec,
  );
}

/** Inputs and outcomes: P(positive) = sigmoid(1.2 · Σ inputs). */
export function world(seed: number, count: number): { example: Example; label: number }[] {
  const random = mulberry32(seed);
  return Array.from({ length: count }, () => {
    const item = Float32Array.from({ length: WIDTH }, () => random() * 2 - 1);
    const logit = 1.2 * item.reduce((sum, value) => sum + value, 0);
    const label = random() < 1 / (1 + Math.exp(-logit)) ? 1 : 0;
    return { example: { item }, label };
  });
}
