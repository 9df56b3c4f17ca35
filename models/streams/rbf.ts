/**
 * Multiclass: the random RBF generator with drift, Bifet, Holmes, Pfahringer, Kirkby &
 * Gavaldà (2009), "New ensemble methods for evolving data streams", KDD, §5 (MOA's
 * `RandomRBFGeneratorDrift`). Centroids with a class, a weight and a spread are placed at
 * random in [0, 1)^d; each row picks a centroid by weight and lies at a N(0, spread²) distance
 * from it in a random direction. Every centroid moves at `speed` per row in its own direction
 * (bouncing off the cube's walls), so the classes' regions drift continuously.
 *
 * Defaults: d = 5, 4 classes, 2 centroids per class, speed 1e-4.
 *
 * ```ts
 * import { rbf } from './rbf.ts';
 * rbf({ rows: 10 }).classes; // [0, 1, 2, 3]
 * ```
 */
import { mulberry32 } from '../onnx/prng.ts';
import { type GeneratedStream, generated, normal, type StreamOptions } from './stream.ts';

const D = 5;
const CLASSES = 4;
const PER_CLASS = 2;

export function rbf({
  rows = 20_000,
  seed = 5,
  speed = 1e-4,
}: StreamOptions & { speed?: number } = {}): GeneratedStream {
  return generated(
    {
      name: 'rbf',
      task: 'multiclass',
      dim: D,
      classes: Array.from({ length: CLASSES }, (_, k) => k),
      length: rows,
      cite: `Bifet et al. (2009), KDD: random RBF with drift, d = ${D}, ${CLASSES} classes × ${PER_CLASS} centroids, speed ${speed}`,
    },
    () => {
      const random = mulberry32(seed);
      const count = CLASSES * PER_CLASS;
      const centres = Array.from({ length: count }, () =>
        Float64Array.from({ length: D }, () => random()),
      );
      const spread = Float64Array.from({ length: count }, () => 0.05 + 0.1 * random());
      const weight = Float64Array.from({ length: count }, () => random());
      const total = weight.reduce((a, b) => a + b, 0);
      const moves = centres.map(() => {
        const v = Float64Array.from({ length: D }, () => normal(random));
        const norm = Math.hypot(...v);
        return v.map((value) => (value / norm) * speed);
      });
      return () => {
        let pick = random() * total;
        let c = 0;
        while (c < count - 1 && pick >= weight[c]) pick -= weight[c++];
        const direction = Float64Array.from({ length: D }, () => normal(random));
        const norm = Math.hypot(...direction);
        const r = normal(random) * spread[c];
        const x = Float64Array.from(
          { length: D },
          (_, j) => centres[c][j] + (direction[j] / norm) * r,
        );
        for (let k = 0; k < count; k++) {
          for (let j = 0; j < D; j++) {
            const next = centres[k][j] + moves[k][j];
            if (next < 0 || next > 1) moves[k][j] = -moves[k][j];
            centres[k][j] += moves[k][j];
          }
        }
        return [x, c % CLASSES] as const;
      };
    },
  );
}
