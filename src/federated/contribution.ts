/**
 * The device's side of a federated round as pure functions: what the head learned since it
 * adopted the base version (its delta), clipped to the round's L2 norm, optionally noised on
 * the device (local DP), ready for the wire (src/protocol/federated.ts). No I/O, no clock: the
 * device runtime decides when; these decide what.
 *
 * What a delta is. A head scores with W·x + b (src/learn/linear_model). The device's head is
 * usually the default mixture (src/learn/mixture/): K candidates seeded from the base head,
 * predicting with weights π_k. The mixture's contribution is the π-weighted average of its
 * candidates' weights and intercepts, Σ_k π_k·W_k (and Σ_k π_k·b_k): for a binary head the
 * mixture predicts Σ_k π_k σ(W_k·x + b_k), and the average is the one linear head closest to it
 * to first order (all candidates started at the base, so they stay near one another). A single
 * head contributes its own W and b. The delta is that minus the base head's W and b, flattened
 * row-major (outputs × dim), then the intercepts.
 *
 * The online scaler. A head behind a `StandardScaler` (devices that started a fresh head) sees
 * z = (x − μ)/s with per-device μ and s, so its weights are in coordinates of its own: deltas
 * of two such devices do not add. The scaler is therefore folded into the head before the delta
 * is taken — W' = W·diag(1/s), b' = b − W'·μ, exact for a linear head (a feature with s = 0,
 * which the scaler maps to 0, gets weight 0) — so every contribution is in the raw input
 * coordinates of the base head, which a server-trained version uses (it normalises in its
 * graph, models/train/version_dir.ts, and runs with no scaler). The scaler's statistics
 * themselves are never sent.
 *
 * Clipping and local noise. The delta is scaled by min(1, clip/‖Δ‖₂), so no install can move
 * the average by more than clip/n: that bound is the round's sensitivity. With `localNoise` = m
 * > 0 the device adds N(0, (m·clip)²) to every coordinate after clipping, so even a server that
 * is not trusted sees each contribution under the Gaussian mechanism with noise multiplier m
 * (local DP; its cost in accuracy is measured in models/federated/). The noisy delta's norm then
 * exceeds clip; the wire says `localNoise` so the server re-clips instead of refusing it.
 *
 * Randomness: noise must be drawn from a source the server cannot predict — {@link cryptoRandom}
 * (WebCrypto) by default; tests inject {@link seededRandom}.
 *
 * ```ts
 * import { contribution } from './contribution.ts';
 * import { createHead } from '../learn/index.ts';
 * const base = createHead({ task: 'binary', dim: 2, optimizer: { kind: 'sgd' } });
 * const device = createHead({ task: 'binary', dim: 2, optimizer: { kind: 'sgd' } });
 * device.partialFit([1, 0], 1);
 * const c = contribution(device.exportState(), base.exportState(), { clip: 0.5 });
 * c.norm <= 0.5; // true: c.delta.weights and c.delta.intercepts are ready to send
 * ```
 */

import { CodedError } from '../errors.ts';
import type { ScalerState } from '../learn/scaler.ts';
import type { HeadState } from '../learn/types.ts';

/** A uniform random number in [0, 1). */
export type Random = () => number;

/** A flat delta: weights (outputs × dim, row-major), then intercepts. */
export interface HeadDelta {
  weights: Float64Array;
  intercepts: Float64Array;
}

/** A head reduced to one linear model: what a delta is taken between. */
export interface LinearHead {
  outputs: number;
  dim: number;
  weights: Float64Array;
  intercepts: Float64Array;
}

export class FederatedError extends CodedError<'SHAPE_MISMATCH' | 'BAD_CLIP' | 'NON_FINITE'> {
  override readonly name = 'FederatedError';
}

/**
 * The head as one linear model: a single head as it is, a mixture as the π-weighted average of
 * its candidates (see the module comment).
 */
export function linearHead(state: HeadState): LinearHead {
  const { dim } = state.config;
  const candidates = state.config.optimizer.kind === 'mixture' ? candidateCount(state) : 1;
  const outputs = state.intercepts.length / candidates;
  const size = outputs * dim;
  if (!Number.isInteger(outputs) || state.weights.length !== candidates * size)
    throw new FederatedError('SHAPE_MISMATCH', `a head of ${state.weights.length} weights`);
  if (candidates === 1)
    return { outputs, dim, weights: state.weights.slice(), intercepts: state.intercepts.slice() };
  const pi = Array.from({ length: candidates }, (_, k) => state.scalars[`${k}.weight`] ?? 0);
  const total = pi.reduce((s, v) => s + v, 0);
  const share = total > 0 ? pi.map((v) => v / total) : pi.map(() => 1 / candidates);
  const weights = new Float64Array(size);
  const intercepts = new Float64Array(outputs);
  for (let k = 0; k < candidates; k++) {
    for (let i = 0; i < size; i++) weights[i] += share[k] * state.weights[k * size + i];
    for (let o = 0; o < outputs; o++) intercepts[o] += share[k] * state.intercepts[k * outputs + o];
  }
  return { outputs, dim, weights, intercepts };
}

function candidateCount(state: HeadState): number {
  const optimizer = state.config.optimizer;
  if (optimizer.kind !== 'mixture') return 1;
  if (optimizer.candidates && optimizer.candidates.length > 0) return optimizer.candidates.length;
  let k = 0;
  while (`${k}.weight` in state.scalars) k++;
  return Math.max(1, k);
}

/**
 * The same head on raw inputs: W' = W·diag(1/s), b' = b − W'·μ, with the scaler's running mean
 * μ and population standard deviation s (0 where s = 0, as the scaler maps such a feature).
 */
export function foldScaler(head: LinearHead, scaler: ScalerState): LinearHead {
  if (scaler.dim !== head.dim)
    throw new FederatedError(
      'SHAPE_MISMATCH',
      `the scaler has ${scaler.dim} features, the head ${head.dim}`,
    );
  const inv = new Float64Array(head.dim);
  for (let j = 0; j < head.dim; j++) {
    const variance = scaler.n > 0 ? scaler.m2[j] / scaler.n : 0;
    inv[j] = variance > 0 ? 1 / Math.sqrt(variance) : 0;
  }
  const weights = new Float64Array(head.weights.length);
  const intercepts = head.intercepts.slice();
  for (let o = 0; o < head.outputs; o++) {
    for (let j = 0; j < head.dim; j++) {
      const w = head.weights[o * head.dim + j] * inv[j];
      weights[o * head.dim + j] = w;
      intercepts[o] -= w * scaler.mean[j];
    }
  }
  return { ...head, weights, intercepts };
}

/** The device head (with its scaler, if it has one) minus the base head. */
export function headDelta(device: HeadState, base: HeadState, scaler?: ScalerState): HeadDelta {
  let mine = linearHead(device);
  if (scaler) mine = foldScaler(mine, scaler);
  const theirs = linearHead(base);
  if (mine.dim !== theirs.dim || mine.outputs !== theirs.outputs)
    throw new FederatedError(
      'SHAPE_MISMATCH',
      `the head is ${mine.outputs}×${mine.dim}, the base ${theirs.outputs}×${theirs.dim}`,
    );
  const weights = mine.weights.map((w, i) => w - theirs.weights[i]);
  const intercepts = mine.intercepts.map((b, i) => b - theirs.intercepts[i]);
  return finite({ weights, intercepts });
}

function finite(delta: HeadDelta): HeadDelta {
  if (!delta.weights.every(Number.isFinite) || !delta.intercepts.every(Number.isFinite))
    throw new FederatedError('NON_FINITE', 'the delta has a non-finite entry');
  return delta;
}

/** ‖Δ‖₂ over weights and intercepts together. */
export function deltaNorm(delta: { weights: ArrayLike<number>; intercepts: ArrayLike<number> }) {
  let sum = 0;
  for (let i = 0; i < delta.weights.length; i++) sum += delta.weights[i] ** 2;
  for (let i = 0; i < delta.intercepts.length; i++) sum += delta.intercepts[i] ** 2;
  return Math.sqrt(sum);
}

/** Δ·min(1, clip/‖Δ‖₂): a new delta whose norm is at most `clip`. */
export function clipDelta(delta: HeadDelta, clip: number): HeadDelta {
  if (!(clip > 0 && Number.isFinite(clip)))
    throw new FederatedError('BAD_CLIP', `clip must be finite and > 0, got ${clip}`);
  const norm = deltaNorm(delta);
  const scale = norm > clip ? clip / norm : 1;
  return {
    weights: delta.weights.map((w) => w * scale),
    intercepts: delta.intercepts.map((b) => b * scale),
  };
}

/** One N(0, 1) draw (Box–Muller; `random` gives uniforms in [0, 1)). */
export function gaussian(random: Random): number {
  let u = 0;
  while (u === 0) u = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** Adds N(0, std²) to every coordinate, into a new delta. */
export function addNoise(delta: HeadDelta, std: number, random: Random): HeadDelta {
  if (std === 0) return { weights: delta.weights.slice(), intercepts: delta.intercepts.slice() };
  return {
    weights: delta.weights.map((w) => w + std * gaussian(random)),
    intercepts: delta.intercepts.map((b) => b + std * gaussian(random)),
  };
}

/** Uniforms from WebCrypto (browsers, workers, Node ≥ 20): 53 random bits each. */
export function cryptoRandom(): number {
  const words = new Uint32Array(2);
  globalThis.crypto.getRandomValues(words);
  return (words[0] * 2 ** 21 + (words[1] >>> 11)) / 2 ** 53;
}

/** A reproducible stream of uniforms (SplitMix32-style), for tests and the simulation only. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    z = (z ^ (z >>> 16)) >>> 0;
    return z / 2 ** 32;
  };
}

export interface ContributionOptions {
  /** The round's clip norm. */
  clip: number;
  /** The device's scaler state, when its head sits behind one (folded, see the module comment). */
  scaler?: ScalerState;
  /** Local DP: Gaussian noise of standard deviation localNoise·clip per coordinate (default 0). */
  localNoise?: number;
  random?: Random;
}

export interface Contribution {
  /** Plain arrays: what {@link ContributionRequest.delta} carries. */
  delta: { weights: number[]; intercepts: number[] };
  /** ‖Δ‖₂ before clipping: how far the device moved. */
  rawNorm: number;
  /** ‖Δ‖₂ as sent (≤ clip without local noise). */
  norm: number;
  localNoise: number;
}

/** Delta, clip, optional local noise: the body of a contribution, but for the round's ids. */
export function contribution(
  device: HeadState,
  base: HeadState,
  options: ContributionOptions,
): Contribution {
  const raw = headDelta(device, base, options.scaler);
  const rawNorm = deltaNorm(raw);
  const localNoise = options.localNoise ?? 0;
  if (!(localNoise >= 0 && Number.isFinite(localNoise)))
    throw new FederatedError('BAD_CLIP', `localNoise must be finite and >= 0, got ${localNoise}`);
  const clipped = clipDelta(raw, options.clip);
  const sent = addNoise(clipped, localNoise * options.clip, options.random ?? cryptoRandom);
  return {
    delta: { weights: Array.from(sent.weights), intercepts: Array.from(sent.intercepts) },
    rawNorm,
    norm: deltaNorm(sent),
    localNoise,
  };
}
