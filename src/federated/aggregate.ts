/**
 * The server's side of a round as pure functions: the average of n clipped deltas plus Gaussian
 * noise, and the base head moved by it (DP-FedAvg: McMahan, Ramage, Talwar, Zhang 2018,
 * "Learning Differentially Private Recurrent Language Models", ICLR, Algorithm 1 with the fixed-
 * size denominator).
 *
 * Each delta has L2 norm ≤ clip, so adding or removing one install moves the sum by at most
 * clip: the sum plus N(0, (z·clip)²) per coordinate is the Gaussian mechanism with noise
 * multiplier z, and dividing by n is post-processing. Hence the average's noise has standard
 * deviation σ = z·clip/n, and the round's privacy loss is what src/federated/accountant.ts
 * computes for (q, z). n here is the number of contributions that arrived, which the server
 * sees and which is itself released (it is in the version's metadata); McMahan et al.'s
 * estimator divides by the expected count qW instead to hide it — with every eligible install
 * contributing (q = 1) the two coincide. Deltas are re-clipped here, so a device that sent a
 * longer one (local noise, or a fault) still has sensitivity clip.
 *
 * The new head is base + η·(average + noise), η the server learning rate (1: plain FedAvg;
 * Reddi et al. 2021, "Adaptive Federated Optimization", for η ≠ 1). Post-processing: η costs
 * no privacy. The base's optimizer state (slots, update count) is kept, so the version's head
 * continues its schedule on the devices as the base would.
 *
 * ```ts
 * import { aggregate } from './aggregate.ts';
 * import { seededRandom } from './contribution.ts';
 * const deltas = [{ weights: [0.3, 0], intercepts: [0] }, { weights: [0.1, 0], intercepts: [0] }];
 * aggregate(deltas, { clip: 1, noiseMultiplier: 0, random: seededRandom(1) }).mean.weights; // [0.2, 0]
 * ```
 */
import type { HeadState } from '../learn/types.ts';
import { clipDelta, cryptoRandom, FederatedError, gaussian, type Random } from './contribution.ts';

export interface AggregateOptions {
  clip: number;
  /** z: the noise multiplier. */
  noiseMultiplier: number;
  /** Defaults to WebCrypto; inject a seeded one in tests. */
  random?: Random;
}

export interface Aggregate {
  /** The noisy average delta. */
  mean: { weights: number[]; intercepts: number[] };
  /** Contributions averaged. */
  n: number;
  /** σ = z·clip/n: the standard deviation of the noise on every coordinate. */
  noiseStd: number;
}

type WireDelta = { weights: ArrayLike<number>; intercepts: ArrayLike<number> };

export function aggregate(deltas: readonly WireDelta[], options: AggregateOptions): Aggregate {
  const n = deltas.length;
  if (n === 0) throw new FederatedError('SHAPE_MISMATCH', 'no deltas to aggregate');
  const { clip, noiseMultiplier } = options;
  if (!(noiseMultiplier >= 0 && Number.isFinite(noiseMultiplier)))
    throw new FederatedError(
      'BAD_CLIP',
      `the noise multiplier must be >= 0, got ${noiseMultiplier}`,
    );
  const width = deltas[0].weights.length;
  const outputs = deltas[0].intercepts.length;
  const weights = new Float64Array(width);
  const intercepts = new Float64Array(outputs);
  for (const delta of deltas) {
    if (delta.weights.length !== width || delta.intercepts.length !== outputs)
      throw new FederatedError('SHAPE_MISMATCH', 'the deltas differ in shape');
    const clipped = clipDelta(
      {
        weights: Float64Array.from(delta.weights),
        intercepts: Float64Array.from(delta.intercepts),
      },
      clip,
    );
    for (let i = 0; i < width; i++) weights[i] += clipped.weights[i];
    for (let o = 0; o < outputs; o++) intercepts[o] += clipped.intercepts[o];
  }
  const random = options.random ?? cryptoRandom;
  const noiseStd = (noiseMultiplier * clip) / n;
  const noisy = (sum: number) => sum / n + (noiseStd > 0 ? noiseStd * gaussian(random) : 0);
  return {
    mean: { weights: Array.from(weights, noisy), intercepts: Array.from(intercepts, noisy) },
    n,
    noiseStd,
  };
}

/**
 * base + η·delta as a new head state (a single head; a mixture base moves every candidate by
 * the same delta). Its config, optimizer slots and update count are the base's.
 */
export function applyDelta(base: HeadState, delta: WireDelta, learningRate = 1): HeadState {
  const size = delta.weights.length;
  const outputs = delta.intercepts.length;
  const candidates = base.weights.length / size;
  if (
    !Number.isInteger(candidates) ||
    candidates < 1 ||
    base.intercepts.length !== candidates * outputs
  )
    throw new FederatedError(
      'SHAPE_MISMATCH',
      `a delta of ${size} + ${outputs} does not fit a head of ${base.weights.length} + ${base.intercepts.length}`,
    );
  const weights = base.weights.map((w, i) => w + learningRate * delta.weights[i % size]);
  const intercepts = base.intercepts.map(
    (b, i) => b + learningRate * delta.intercepts[i % outputs],
  );
  if (!weights.every(Number.isFinite) || !intercepts.every(Number.isFinite))
    throw new FederatedError('NON_FINITE', 'the new head has a non-finite entry');
  return {
    config: base.config,
    weights,
    intercepts,
    slots: Object.fromEntries(Object.entries(base.slots).map(([k, v]) => [k, v.slice()])),
    t: base.t,
    scalars: { ...base.scalars },
  };
}
