/**
 * The version's initial head: the global logistic model fitted on the whole history over the
 * embedding, by Newton's method on exactly the objective the device's head minimises with
 * the library's defaults (scikit-learn's SGDClassifier: mean log loss + l2/2·|w|², intercept
 * not penalised, l2 = 1e-4). Newton converges to the optimum in a few steps, so the result
 * does not depend on the order of the history or on a learning rate.
 *
 * The state records `t` = the number of history interactions it was fitted on, as if the
 * head had learned from each once. `t` drives the 'optimal' learning-rate schedule, so the
 * device continues where a head that had seen the history would be: with small steps.
 *
 * Features depend on the item only (the embedding of its catalog row), so the fit runs on
 * per-item counts (n_i interactions, k_i positives) instead of every interaction.
 */
import { createHead, resolveConfig } from '../../src/learn/index.ts';
import type { HeadState } from '../../src/learn/types.ts';
import { choleskySolve } from './linalg.ts';

export interface ItemCounts {
  /** Interactions per item. */
  n: Float64Array;
  /** Positive outcomes per item. */
  positives: Float64Array;
}

export interface GlobalHeadFit {
  state: HeadState;
  iterations: number;
  /** Mean log loss on the history. */
  logLoss: number;
}

export function countOutcomes(items: number, item: Int32Array, label: Uint8Array): ItemCounts {
  const n = new Float64Array(items);
  const positives = new Float64Array(items);
  for (let r = 0; r < item.length; r++) {
    n[item[r]]++;
    positives[item[r]] += label[r];
  }
  return { n, positives };
}

/**
 * `features`: items × dim (row-major, the embedding of each catalog item). Returns the head
 * state with the library's default config for a binary head of width `dim`.
 */
export function fitGlobalHead(
  features: Float32Array | Float64Array,
  dim: number,
  counts: ItemCounts,
  maxIterations = 25,
): GlobalHeadFit {
  const { l2 } = resolveConfig({ task: 'binary', dim });
  const items = counts.n.length;
  const width = dim + 1; // weights, then the intercept
  const w = new Float64Array(width);
  let total = 0;
  let positives = 0;
  for (let i = 0; i < items; i++) {
    total += counts.n[i];
    positives += counts.positives[i];
  }
  // Start from the base rate, so the first step is already a sensible one.
  w[dim] = Math.log(positives / (total - positives));
  const gradient = new Float64Array(width);
  const hessian = new Float64Array(width * width);
  const step = new Float64Array(width);
  const x = new Float64Array(width);
  let iterations = 0;
  for (; iterations < maxIterations; iterations++) {
    gradient.fill(0);
    hessian.fill(0);
    for (let i = 0; i < items; i++) {
      const n = counts.n[i];
      if (n === 0) continue;
      let z = w[dim];
      for (let j = 0; j < dim; j++) {
        x[j] = features[i * dim + j];
        z += w[j] * x[j];
      }
      x[dim] = 1;
      const p = 1 / (1 + Math.exp(-z));
      const g = (n * p - counts.positives[i]) / total;
      const h = (n * p * (1 - p)) / total;
      for (let a = 0; a < width; a++) {
        gradient[a] += g * x[a];
        const ha = h * x[a];
        for (let b = 0; b <= a; b++) hessian[a * width + b] += ha * x[b];
      }
    }
    for (let j = 0; j < dim; j++) {
      gradient[j] += l2 * w[j];
      hessian[j * width + j] += l2;
    }
    hessian[dim * width + dim] += 1e-12; // keeps a constant column from making it singular
    choleskySolve(hessian, gradient, width, step);
    let largest = 0;
    for (let a = 0; a < width; a++) {
      w[a] -= step[a];
      largest = Math.max(largest, Math.abs(step[a]));
    }
    if (largest < 1e-9) {
      iterations++;
      break;
    }
  }

  let loss = 0;
  for (let i = 0; i < items; i++) {
    const n = counts.n[i];
    if (n === 0) continue;
    let z = w[dim];
    for (let j = 0; j < dim; j++) z += w[j] * features[i * dim + j];
    // log(1 + e^−z) and log(1 + e^z), computed stably.
    const softplus = (v: number) =>
      v > 0 ? v + Math.log1p(Math.exp(-v)) : Math.log1p(Math.exp(v));
    loss += counts.positives[i] * softplus(-z) + (n - counts.positives[i]) * softplus(z);
  }

  // One optimizer (SGD, scikit-learn's schedule): the device seeds its default mixture with it.
  const state = createHead({ task: 'binary', dim, optimizer: { kind: 'sgd' } }).exportState();
  state.weights.set(w.subarray(0, dim));
  state.intercepts[0] = w[dim];
  state.t = total;
  return { state, iterations, logLoss: loss / total };
}
