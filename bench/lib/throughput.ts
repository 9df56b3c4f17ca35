import { mulberry32 } from '../../models/onnx/prng.ts';
import { createHead } from '../../src/learn/index.ts';
import type { Figure } from './stats.ts';
import { summarise } from './stats.ts';

/**
 * Per-event learning throughput of the logistic head (SGD, scikit-learn's "optimal" schedule,
 * L2) against a bare typed-array loop doing the same arithmetic: the practical limit for any
 * JavaScript implementation. Also the default head (`createHead({ task, dim })`: the mixture
 * of SGD and AdaGrad, src/learn/mixture/), which does about twice the arithmetic and weighs
 * the two. Runs alternate between the three so drift in the machine's speed affects all alike.
 * Shared by the Node benchmark and the one in a Chromium worker.
 */
export interface ThroughputResult {
  d: number;
  samples: number;
  head: Figure;
  /** The default head (no optimizer given): the mixture. */
  defaultHead: Figure;
  bare: Figure;
  /** Median of per-run bare/head time ratios: 1.0 means as fast as the bare loop. */
  slowdown: Figure;
}

export const ALPHA = 1e-4;

export function makeStream(d: number, n: number, seed: number) {
  const random = mulberry32(seed);
  const xs = new Float64Array(n * d);
  const ys = new Float64Array(n);
  const truth = Float64Array.from({ length: d }, () => random() * 2 - 1);
  for (let row = 0; row < n; row++) {
    let margin = 0;
    for (let i = 0; i < d; i++) {
      const value = random() * 2 - 1;
      xs[row * d + i] = value;
      margin += value * truth[i];
    }
    ys[row] = margin + (random() - 0.5) * 0.5 > 0 ? 1 : 0;
  }
  return { xs, ys };
}

/** The same update as the head, written as one flat loop with nothing around it. */
function bareLoop(xs: Float64Array, ys: Float64Array, d: number): number {
  const w = new Float64Array(d);
  let b = 0;
  const typw = Math.sqrt(1 / Math.sqrt(ALPHA));
  const t0 = 1 / (typw * ALPHA);
  const n = ys.length;
  for (let row = 0, t = 1; row < n; row++, t++) {
    const offset = row * d;
    let p = b;
    for (let i = 0; i < d; i++) p += w[i] * xs[offset + i];
    const y = ys[row] > 0 ? 1 : -1;
    const z = p * y;
    const dloss = z > 18 ? -y * Math.exp(-z) : z < -18 ? -y : -y / (Math.exp(z) + 1);
    const eta = 1 / (ALPHA * (t0 + t - 1));
    const shrink = Math.max(0, 1 - eta * ALPHA);
    const step = -eta * dloss;
    for (let i = 0; i < d; i++) w[i] = w[i] * shrink + step * xs[offset + i];
    b += step;
  }
  return b + w[0];
}

/** Row views are made before timing: the loop measures the head, not view allocation. */
function headLoop(
  rows: readonly Float64Array[],
  ys: Float64Array,
  d: number,
  single = true,
): number {
  const head = single
    ? createHead({
        task: 'binary',
        dim: d,
        optimizer: { kind: 'sgd', schedule: 'optimal' },
        l2: ALPHA,
      })
    : createHead({ task: 'binary', dim: d });
  const n = rows.length;
  for (let row = 0; row < n; row++) head.partialFit(rows[row], ys[row]);
  return head.updates;
}

export function measureThroughput(d: number, samples: number, runs: number): ThroughputResult {
  const { xs, ys } = makeStream(d, samples, 42 + d);
  const rows = Array.from({ length: samples }, (_, row) => xs.subarray(row * d, row * d + d));
  let sink = 0;
  const warm = Math.min(samples, 20_000);
  sink += bareLoop(xs.subarray(0, warm * d), ys.subarray(0, warm), d);
  sink += headLoop(rows.slice(0, warm), ys, d);
  sink += headLoop(rows.slice(0, warm), ys, d, false);
  const head: number[] = [];
  const defaultHead: number[] = [];
  const bare: number[] = [];
  const slowdown: number[] = [];
  for (let run = 0; run < runs; run++) {
    let start = performance.now();
    sink += bareLoop(xs, ys, d);
    const bareMs = performance.now() - start;
    start = performance.now();
    sink += headLoop(rows, ys, d);
    const headMs = performance.now() - start;
    start = performance.now();
    sink += headLoop(rows, ys, d, false);
    defaultHead.push((samples / (performance.now() - start)) * 1000);
    bare.push((samples / bareMs) * 1000);
    head.push((samples / headMs) * 1000);
    slowdown.push(headMs / bareMs);
  }
  if (!Number.isFinite(sink)) throw new Error('benchmark produced a non-finite result');
  return {
    d,
    samples,
    head: summarise(head),
    defaultHead: summarise(defaultHead),
    bare: summarise(bare),
    slowdown: summarise(slowdown),
  };
}
