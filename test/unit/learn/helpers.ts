/** Small seeded data generators shared by the learn tests (no external data, no Math.random). */
import { mulberry32 } from '../../../models/onnx/prng.ts';

/** Uniform in [0, 1) from a seed. */
export const rng = mulberry32;

/** Standard normal draws (Box–Muller). */
export function normal(random: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

export interface Dataset<Y> {
  xs: Float64Array;
  ys: Y[];
  d: number;
  row(i: number): Float64Array;
}

function dataset<Y>(xs: Float64Array, ys: Y[], d: number): Dataset<Y> {
  return { xs, ys, d, row: (i) => xs.subarray(i * d, (i + 1) * d) };
}

/**
 * Linearly separable binary data with a margin: y = 1 iff w·x > 0, points with |w·x| < margin
 * dropped. `noise` extra features carry no signal.
 */
export function separable(n: number, seed: number, w = [1, -2, 0.5], noise = 0): Dataset<number> {
  const random = rng(seed);
  const d = w.length + noise;
  const xs = new Float64Array(n * d);
  const ys: number[] = [];
  for (let i = 0; i < n; ) {
    let s = 0;
    for (let j = 0; j < d; j++) {
      const v = random() * 2 - 1;
      xs[i * d + j] = v;
      if (j < w.length) s += w[j] * v;
    }
    if (Math.abs(s) < 0.1) continue;
    ys.push(s > 0 ? 1 : 0);
    i++;
  }
  return dataset(xs, ys, d);
}

/** Three Gaussian blobs in 2-D, one per class. */
export function blobs(n: number, seed: number, classes: readonly string[]): Dataset<string> {
  const random = rng(seed);
  const gauss = normal(random);
  const centres = [
    [2, 0],
    [-1, 1.7],
    [-1, -1.7],
  ];
  const xs = new Float64Array(n * 2);
  const ys: string[] = [];
  for (let i = 0; i < n; i++) {
    const k = Math.floor(random() * 3);
    xs[i * 2] = centres[k][0] + 0.5 * gauss();
    xs[i * 2 + 1] = centres[k][1] + 0.5 * gauss();
    ys.push(classes[k]);
  }
  return dataset(xs, ys, 2);
}

/** y = w·x + b + noise·N(0, 1), x uniform in [-1, 1]^d. */
export function linear(n: number, seed: number, w: number[], b: number, noise: number) {
  const random = rng(seed);
  const gauss = normal(random);
  const d = w.length;
  const xs = new Float64Array(n * d);
  const ys: number[] = [];
  for (let i = 0; i < n; i++) {
    let y = b;
    for (let j = 0; j < d; j++) {
      const v = random() * 2 - 1;
      xs[i * d + j] = v;
      y += w[j] * v;
    }
    ys.push(y + noise * gauss());
  }
  return dataset(xs, ys, d);
}

export function accuracy<Y>(predict: (x: Float64Array) => unknown, data: Dataset<Y>): number {
  let right = 0;
  for (let i = 0; i < data.ys.length; i++) if (predict(data.row(i)) === data.ys[i]) right++;
  return right / data.ys.length;
}
