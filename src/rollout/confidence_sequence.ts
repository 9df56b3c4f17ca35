/**
 * An anytime-valid confidence bound for the mean of a stream, from its count, sum and sum of
 * squares: the two-sided normal-mixture confidence sequence of Robbins (1970), in the form of
 * Howard, Ramdas, McAuliffe & Sekhon (2021), "Time-uniform, nonparametric, nonasymptotic
 * confidence sequences", Annals of Statistics 49(2) (the normal-mixture boundary, §3), with the
 * variance estimated from the data as in Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas (2024),
 * "Time-uniform central limit theory and asymptotic confidence sequences", Annals of
 * Statistics 52(6) (Theorem 2.2).
 *
 * Why a confidence *sequence*: the rollout policy (and the device) look at the bound again
 * after every batch of outcomes and act the first time it excludes zero. A fixed-n interval
 * checked that way is wrong far more often than its nominal α (a test below measures it);
 * a confidence sequence holds for all n at once: P(∃ n: μ ∉ [lower_n, upper_n]) ≤ α.
 *
 * The boundary. For increments with mean μ and variance σ², let S_n = Σ (x_i − μ) and the
 * "intrinsic time" V_n = n σ². Mixing the exponential supermartingales exp(λ S_n − λ² V_n / 2)
 * over λ ~ N(0, 1/r) gives M_n = sqrt(r / (V_n + r)) · exp(S_n² / (2 (V_n + r))), a nonnegative
 * supermartingale with M_0 = 1; by Ville's inequality P(∃ n: M_n ≥ 1/α) ≤ α, i.e. with
 * probability at least 1 − α, for every n at once,
 *
 *   |S_n| < sqrt((V_n + r) · ln((V_n + r) / (r α²))).
 *
 * Measuring time in samples (r = ρ σ²) and dividing by n gives the radius around the running
 * mean:  radius_n = σ · sqrt((n + ρ) · ln((n + ρ) / (ρ α²))) / n.
 *
 * Parameters:
 * - `alpha`: the probability that the bound is ever wrong, over all n (two-sided).
 * - `rho`: the mixture's scale in samples (intrinsic time in units of σ²). It sets where the
 *   sequence is tightest: {@link rhoFor}(m, α) makes it tightest at n = m (there it is about
 *   1.5× the width of a fixed-n 95 % interval; far from m it is wider, never invalid). Choose
 *   it before seeing data (e.g. from the minimum sample count a decision needs).
 * - `minVariance`: a floor under the variance estimate, for streams too short or too constant
 *   for the sample variance to be trusted.
 *
 * Validity: exact (nonasymptotic) for σ-sub-Gaussian increments when σ is known; with σ
 * estimated it is asymptotically valid (Waudby-Smith et al. 2024). In practice (measured in
 * test/unit/server/confidence_sequence.test.ts) it covers at ≥ 1 − α over all n ≥ 10 for
 * near-normal streams, and over all n ≥ 300 for a strongly skewed one (exponential), where a
 * short stream underestimates the variance; so act on it only after a minimum sample count.
 * It treats the increments as independent; for outcomes clustered by device pass a
 * cluster-robust variance as `minVariance` (the server's rollout policy does).
 *
 * Example (runnable; d = logloss(staged) − logloss(production) over 4,000 paired outcomes):
 *
 * ```ts
 * import { confidenceSequence, rhoFor } from './confidence_sequence.ts';
 * const bound = confidenceSequence(
 *   { n: 4000, sum: -120, sumSq: 410 }, // mean −0.03, sd ≈ 0.32
 *   { alpha: 0.05, rho: rhoFor(1000, 0.05) },
 * );
 * // bound.upper ≈ −0.014 < 0: the staged version is better, whenever we happened to look.
 * ```
 */

/** What the stream has seen: n values, their sum and their sum of squares. */
export interface StreamMoments {
  n: number;
  sum: number;
  sumSq: number;
}

export interface ConfidenceSequenceOptions {
  /** Probability that the bound is wrong at any n (two-sided). Default 0.05. */
  alpha?: number;
  /** Mixture scale in samples; default {@link rhoFor}(1000, alpha). */
  rho?: number;
  /** Floor under the variance estimate. Default 0. */
  minVariance?: number;
}

export interface ConfidenceBound {
  n: number;
  mean: number;
  /** The variance estimate used (sample variance, floored). */
  variance: number;
  radius: number;
  lower: number;
  upper: number;
}

const DEFAULT_ALPHA = 0.05;
const DEFAULT_TUNING_N = 1000;

/**
 * The ρ that makes the bound tightest at n = m. Setting the derivative of
 * (m + ρ) ln((m + ρ) / (ρ α²)) in ρ to zero gives, with x = m / ρ, x = 2 ln(1/α) + ln(1 + x);
 * the iteration converges because the right side's slope 1 / (1 + x) is below 1.
 */
export function rhoFor(m: number, alpha = DEFAULT_ALPHA): number {
  if (!(m > 0) || !(alpha > 0 && alpha < 1)) throw new RangeError('need m > 0 and 0 < alpha < 1');
  const base = 2 * Math.log(1 / alpha);
  let x = base;
  for (let i = 0; i < 100; i++) {
    const next = base + Math.log1p(x);
    if (Math.abs(next - x) < 1e-12) break;
    x = next;
  }
  return m / x;
}

/** The radius around the mean after n samples of variance `variance` (see the module comment). */
export function normalMixtureRadius(
  n: number,
  variance: number,
  alpha: number,
  rho: number,
): number {
  const t = n + rho;
  return Math.sqrt(variance) * (Math.sqrt(t * Math.log(t / (rho * alpha * alpha))) / n);
}

/**
 * The confidence sequence's bound after the samples summarised by `moments`, or null when there
 * are fewer than two (no variance estimate).
 */
export function confidenceSequence(
  moments: StreamMoments,
  options: ConfidenceSequenceOptions = {},
): ConfidenceBound | null {
  const alpha = options.alpha ?? DEFAULT_ALPHA;
  if (!(alpha > 0 && alpha < 1)) throw new RangeError('alpha must be in (0, 1)');
  const rho = options.rho ?? rhoFor(DEFAULT_TUNING_N, alpha);
  if (!(rho > 0) || !Number.isFinite(rho)) throw new RangeError('rho must be a positive number');
  const { n, sum, sumSq } = moments;
  if (!(n >= 2) || !Number.isFinite(sum) || !Number.isFinite(sumSq)) return null;
  const mean = sum / n;
  const sampleVariance = Math.max(0, sumSq - sum * mean) / (n - 1);
  const variance = Math.max(sampleVariance, options.minVariance ?? 0);
  const radius = normalMixtureRadius(n, variance, alpha, rho);
  return { n, mean, variance, radius, lower: mean - radius, upper: mean + radius };
}
