/**
 * Matrix factorisation of the history by alternating least squares with biases:
 *
 *   y_ui ≈ μ + b_u + b_i + p_u · q_i
 *
 * minimising the squared error plus λ(|p_u|² + b_u² + |q_i|² + b_i²). Each half-sweep fixes
 * one side and solves a (k+1)×(k+1) ridge system per user (or item) exactly, so ALS needs no
 * learning rate, converges in a few sweeps and, run in a fixed order from a seeded start, is
 * deterministic. Y. Hu, Y. Koren, C. Volinsky (2008) and R. Bell, Y. Koren (2007) describe it.
 * Items (or users) with no interactions keep zero factors and bias.
 */

import { mulberry32 } from '../onnx/prng.ts';
import { choleskySolve } from './linalg.ts';

export interface AlsInput {
  users: number;
  items: number;
  user: Int32Array;
  item: Int32Array;
  /** The signal to factorise (centred inside). */
  value: ArrayLike<number>;
}

export interface AlsOptions {
  factors: number;
  l2: number;
  sweeps: number;
  seed: number;
  onSweep?: (done: number, total: number) => void;
}

export interface AlsModel {
  factors: number;
  mean: number;
  /** users × factors, row-major. */
  userFactors: Float64Array;
  userBias: Float64Array;
  /** items × factors, row-major. */
  itemFactors: Float64Array;
  itemBias: Float64Array;
  /** Interactions per item. */
  itemCount: Int32Array;
  /** Root mean squared error on the training interactions. */
  rmse: number;
}

/** Row indices grouped by key, as a CSR structure (offsets into `rows`). */
function groupBy(keys: Int32Array, count: number): { offsets: Int32Array; rows: Int32Array } {
  const offsets = new Int32Array(count + 1);
  for (const key of keys) offsets[key + 1]++;
  for (let k = 0; k < count; k++) offsets[k + 1] += offsets[k];
  const fill = offsets.slice(0, count);
  const rows = new Int32Array(keys.length);
  for (let r = 0; r < keys.length; r++) rows[fill[keys[r]]++] = r;
  return { offsets, rows };
}

export function factorise(input: AlsInput, options: AlsOptions): AlsModel {
  const { users, items, user, item, value } = input;
  const k = options.factors;
  const n = user.length;
  let mean = 0;
  for (let r = 0; r < n; r++) mean += value[r];
  mean = n > 0 ? mean / n : 0;
  const target = new Float64Array(n);
  for (let r = 0; r < n; r++) target[r] = value[r] - mean;

  const random = mulberry32(options.seed);
  const userFactors = new Float64Array(users * k);
  const itemFactors = Float64Array.from({ length: items * k }, () => (random() - 0.5) * 0.1);
  const userBias = new Float64Array(users);
  const itemBias = new Float64Array(items);
  const byUser = groupBy(user, users);
  const byItem = groupBy(item, items);
  const itemCount = new Int32Array(items);
  for (let i = 0; i < items; i++) itemCount[i] = byItem.offsets[i + 1] - byItem.offsets[i];
  for (let i = 0; i < items; i++) if (itemCount[i] === 0) itemFactors.fill(0, i * k, i * k + k);

  const m = k + 1;
  const a = new Float64Array(m * m);
  const b = new Float64Array(m);
  const x = new Float64Array(m);
  const v = new Float64Array(m);
  /** Solves one side: [factors, bias] of each `self` row given the other side. */
  const half = (
    groups: { offsets: Int32Array; rows: Int32Array },
    count: number,
    selfFactors: Float64Array,
    selfBias: Float64Array,
    other: Int32Array,
    otherFactors: Float64Array,
    otherBias: Float64Array,
  ) => {
    for (let s = 0; s < count; s++) {
      const start = groups.offsets[s];
      const end = groups.offsets[s + 1];
      if (start === end) continue;
      a.fill(0);
      b.fill(0);
      for (let g = start; g < end; g++) {
        const r = groups.rows[g];
        const o = other[r];
        for (let f = 0; f < k; f++) v[f] = otherFactors[o * k + f];
        v[k] = 1;
        const t = target[r] - otherBias[o];
        for (let p = 0; p < m; p++) {
          b[p] += v[p] * t;
          const vp = v[p];
          for (let q = 0; q <= p; q++) a[p * m + q] += vp * v[q];
        }
      }
      for (let p = 0; p < m; p++) a[p * m + p] += options.l2;
      choleskySolve(a, b, m, x);
      for (let f = 0; f < k; f++) selfFactors[s * k + f] = x[f];
      selfBias[s] = x[k];
    }
  };

  for (let sweep = 0; sweep < options.sweeps; sweep++) {
    half(byUser, users, userFactors, userBias, item, itemFactors, itemBias);
    half(byItem, items, itemFactors, itemBias, user, userFactors, userBias);
    options.onSweep?.(sweep + 1, options.sweeps);
  }

  let squared = 0;
  for (let r = 0; r < n; r++) {
    const u = user[r];
    const i = item[r];
    let prediction = userBias[u] + itemBias[i];
    for (let f = 0; f < k; f++) prediction += userFactors[u * k + f] * itemFactors[i * k + f];
    squared += (prediction - target[r]) ** 2;
  }
  return {
    factors: k,
    mean,
    userFactors,
    userBias,
    itemFactors,
    itemBias,
    itemCount,
    rmse: n > 0 ? Math.sqrt(squared / n) : 0,
  };
}
