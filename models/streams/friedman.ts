/**
 * Regression: Friedman #1, Friedman (1991), "Multivariate adaptive regression splines", Annals
 * of Statistics 19(1): ten features uniform on [0, 1), of which five matter,
 *
 *   y = 10 sin(π x₀ x₁) + 20 (x₂ − ½)² + 10 x₃ + 5 x₄ + N(0, 1),
 *
 * with the "global abrupt" drift of Ikonomovska, Gama & Džeroski (2011), "Learning model trees
 * from evolving data streams", DMKD 23(1): halfway through, the relevant features swap roles
 * (y = 10 sin(π x₃ x₄) + 20 (x₁ − ½)² + 10 x₀ + 5 x₂ + N(0, 1)). A linear head cannot fit the
 * sine and the square, so its RMSE stays above the noise; what counts is how fast it recovers.
 *
 * ```ts
 * import { friedman } from './friedman.ts';
 * friedman({ rows: 10 }).task; // 'regression'
 * ```
 */
import { mulberry32 } from '../onnx/prng.ts';
import { type GeneratedStream, generated, normal, type StreamOptions } from './stream.ts';

const D = 10;

export function friedman({ rows = 20_000, seed = 6 }: StreamOptions = {}): GeneratedStream {
  return generated(
    {
      name: 'friedman',
      task: 'regression',
      dim: D,
      classes: [],
      length: rows,
      cite: 'Friedman (1991), Ann. Stat.: Friedman #1 with the global abrupt drift of Ikonomovska et al. (2011) at half',
    },
    () => {
      const random = mulberry32(seed);
      return (i) => {
        const x = Float64Array.from({ length: D }, () => random());
        const [a, b, c, e, f] = i < rows / 2 ? [0, 1, 2, 3, 4] : [3, 4, 1, 0, 2];
        const y =
          10 * Math.sin(Math.PI * x[a] * x[b]) +
          20 * (x[c] - 0.5) ** 2 +
          10 * x[e] +
          5 * x[f] +
          normal(random);
        return [x, y] as const;
      };
    },
  );
}
