import { mulberry32 } from '../../models/onnx/prng.ts';
import type { FeatureSpec } from '../../src/backbone/feature_spec.ts';
import type { Example } from '../../src/backbone/features.ts';

/** The demo model, as the demo app serves it (public/ is Vite's static root). */
export const MODEL_URL = '/models/demo/model.onnx';

/** `n` seeded candidates for a spec: what an app ranking n items would pass to predict. */
export function candidates(spec: FeatureSpec, n: number, seed: number): Example[] {
  const random = mulberry32(seed);
  const inputs = [...spec.inputs, ...(spec.raw ?? [])];
  return Array.from({ length: n }, () =>
    Object.fromEntries(
      inputs.map((input) => [
        input.name,
        Float32Array.from({ length: input.size }, () => random() * 2 - 1),
      ]),
    ),
  );
}
