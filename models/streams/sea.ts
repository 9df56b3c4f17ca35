/**
 * SEA concepts with abrupt drift: Street & Kim (2001), "A streaming ensemble algorithm (SEA)
 * for large-scale classification", KDD, §4.1. Three features uniform on [0, 10); only the first
 * two matter: y = 1 when x₀ + x₁ ≤ θ. The stream runs through four concepts of equal length with
 * θ = 8, 9, 7, 9.5 (the paper's), so the boundary jumps three times; 10% of the labels are
 * flipped (the paper's class noise).
 *
 * ```ts
 * import { sea } from './sea.ts';
 * const s = sea({ rows: 400 }); // 100 rows per concept
 * [...s.rows()].length; // 400
 * ```
 */
import { mulberry32 } from '../onnx/prng.ts';
import { type GeneratedStream, generated, type StreamOptions } from './stream.ts';

const THRESHOLDS = [8, 9, 7, 9.5];

export function sea({ rows = 20_000, seed = 1 }: StreamOptions = {}): GeneratedStream {
  return generated(
    {
      name: 'sea',
      task: 'binary',
      dim: 3,
      classes: [0, 1],
      length: rows,
      cite: 'Street & Kim (2001), KDD: SEA concepts, θ = 8, 9, 7, 9.5, 10% label noise',
    },
    () => {
      const random = mulberry32(seed);
      return (i) => {
        const x = Float64Array.from({ length: 3 }, () => 10 * random());
        const theta = THRESHOLDS[Math.min(3, Math.floor((4 * i) / rows))];
        let y = x[0] + x[1] <= theta ? 1 : 0;
        if (random() < 0.1) y = 1 - y;
        return [x, y] as const;
      };
    },
  );
}
