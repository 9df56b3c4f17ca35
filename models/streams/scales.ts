/**
 * A stationary stream whose features live on very different scales, 0.1 to 1000, each off
 * centre: the case where one shared learning rate cannot fit every feature and a fresh head
 * must neither saturate nor crawl. Feature j is mⱼ + sⱼ·N(0, 1) with sⱼ = 0.1, 1, 10, 100,
 * 1000, 0.5 and mⱼ = 3 sⱼ; the label is Bernoulli(σ(2 Σ βⱼ (xⱼ − mⱼ) / sⱼ)) with fixed β, a
 * logistic model on the standardised features (so the Bayes log loss is well below 0.693 but
 * above 0). Generated for this project after the description of a user stream.
 *
 * ```ts
 * import { scales } from './scales.ts';
 * const [[x]] = scales({ rows: 1 }).rows();
 * x.length; // 6
 * ```
 */
import { mulberry32 } from '../onnx/prng.ts';
import { type GeneratedStream, generated, normal, type StreamOptions } from './stream.ts';

const SCALES = [0.1, 1, 10, 100, 1000, 0.5];
const BETA = [1, -0.8, 0.6, 0.5, -1.2, 0];

export function scales({ rows = 3_000, seed = 4 }: StreamOptions = {}): GeneratedStream {
  const d = SCALES.length;
  return generated(
    {
      name: 'scales',
      task: 'binary',
      dim: d,
      classes: [0, 1],
      length: rows,
      cite: 'this project: stationary logistic rule, features on scales 0.1 … 1000, off centre',
    },
    () => {
      const random = mulberry32(seed);
      return () => {
        const x = new Float64Array(d);
        let margin = 0;
        for (let j = 0; j < d; j++) {
          const u = normal(random);
          x[j] = 3 * SCALES[j] + SCALES[j] * u;
          margin += BETA[j] * u;
        }
        const y = random() < 1 / (1 + Math.exp(-2 * margin)) ? 1 : 0;
        return [x, y] as const;
      };
    },
  );
}
