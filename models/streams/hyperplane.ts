/**
 * Rotating hyperplane: Hulten, Spencer & Domingos (2001), "Mining time-changing data streams",
 * KDD, §5. Ten features uniform on [0, 1); y = 1 when Σ wᵢxᵢ ≥ ½ Σ wᵢ, so about half the rows
 * are positive whatever the weights. The weights of the first `drifting` features move by
 * `magnitude`·σᵢ per row, and each σᵢ flips sign with probability 10% after every 1,000 rows
 * (the paper's change of direction), so the concept rotates smoothly and without end; 5% of
 * the labels are flipped. The parametrisation is MOA's `HyperplaneGenerator` (Bifet et al.
 * 2010) with its defaults but for the drifting features (here 4 of 10) and the magnitude.
 *
 * ```ts
 * import { hyperplane } from './hyperplane.ts';
 * const [[x, y]] = hyperplane({ rows: 1 }).rows();
 * x.length; // 10
 * ```
 */
import { mulberry32 } from '../onnx/prng.ts';
import { type GeneratedStream, generated, type StreamOptions } from './stream.ts';

const D = 10;

export function hyperplane({
  rows = 20_000,
  seed = 2,
  drifting = 4,
  magnitude = 0.001,
}: StreamOptions & { drifting?: number; magnitude?: number } = {}): GeneratedStream {
  return generated(
    {
      name: 'hyperplane',
      task: 'binary',
      dim: D,
      classes: [0, 1],
      length: rows,
      cite: `Hulten, Spencer & Domingos (2001), KDD: rotating hyperplane, d = ${D}, ${drifting} drifting at ${magnitude}/row, 5% noise`,
    },
    () => {
      const random = mulberry32(seed);
      const w = Float64Array.from({ length: D }, () => random());
      const sigma = Float64Array.from({ length: D }, (_, j) => (j < drifting ? 1 : 0));
      return (i) => {
        const x = Float64Array.from({ length: D }, () => random());
        let dot = 0;
        let sum = 0;
        for (let j = 0; j < D; j++) {
          dot += w[j] * x[j];
          sum += w[j];
        }
        let y = dot >= sum / 2 ? 1 : 0;
        if (random() < 0.05) y = 1 - y;
        for (let j = 0; j < drifting; j++) {
          w[j] += magnitude * sigma[j];
          if ((i + 1) % 1000 === 0 && random() < 0.1) sigma[j] = -sigma[j];
        }
        return [x, y] as const;
      };
    },
  );
}
