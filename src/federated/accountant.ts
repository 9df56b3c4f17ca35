/**
 * Rényi differential privacy (RDP) accounting for the (subsampled) Gaussian mechanism: how much
 * privacy a federated round spends, summed over rounds, and read as (ε, δ).
 *
 * Why RDP: a round adds Gaussian noise of standard deviation z·S to a sum whose sensitivity is S
 * (one install's clipped delta), so the round is the Gaussian mechanism with noise multiplier z.
 * Composed over T rounds, RDP adds up exactly (Mironov 2017, "Rényi Differential Privacy",
 * CSF, Prop. 1), where (ε, δ) composition theorems lose a factor; only the final reading
 * converts to (ε, δ).
 *
 * The mechanism. With sampling rate q (each install takes part in a round independently with
 * probability q; q = 1 when every eligible install may), order α an integer ≥ 2, the RDP of one
 * round is (Mironov, Talwar, Zhang 2019, "Rényi Differential Privacy of the Sampled Gaussian
 * Mechanism", arXiv:1908.10530, §3.3, the integer-α case)
 *
 *   ε_RDP(α) = log(A_α) / (α − 1),
 *   A_α = Σ_{k=0..α} C(α, k) · (1 − q)^(α−k) · q^k · exp((k² − k) / (2 z²)),
 *
 * computed exactly, term by term, in log space (log-sum-exp; log C(α, k) built up by adding
 * logs, so nothing overflows even at α = 512). For q = 1 this is the plain Gaussian mechanism,
 * α / (2 z²) (Mironov 2017, Prop. 7). Only integer orders are used: for them the sum above is
 * exact, with no series to truncate.
 *
 * Orders: 2…64, 80, 96, 128, 256, 512 ({@link DEFAULT_ORDERS}), the integer part of the lists
 * TensorFlow Privacy and Opacus use; ε is the minimum over them.
 *
 * (ε, δ) conversion, two of them ({@link Conversion}):
 * - `'classic'`: ε = min_α ε_RDP(α) + log(1/δ) / (α − 1) (Mironov 2017, Prop. 3). What Abadi
 *   et al. 2016's moments accountant and the original TensorFlow Privacy `get_privacy_spent`
 *   report, so its figures can be checked against theirs.
 * - `'improved'` (the default, what the server budgets with): ε = min_α ε_RDP(α) +
 *   log((α − 1)/α) − (log δ + log α) / (α − 1) (Balle, Barthe, Gaboardi, Hsu, Sato 2020,
 *   "Hypothesis Testing Interpretations and Renyi Differential Privacy", AISTATS, Thm. 21;
 *   what Opacus and later TensorFlow Privacy report). Never larger than the classic one.
 *
 * Adjacency: add or remove one install's contribution (user-level DP: one install is one user).
 *
 * ```ts
 * import { RdpAccountant } from './accountant.ts';
 * const accountant = new RdpAccountant();
 * accountant.compose({ samplingRate: 0.01, noiseMultiplier: 4, steps: 10_000 });
 * accountant.epsilon(1e-5, 'classic'); // { epsilon: 1.2586…, order: 20 } (Abadi et al. 2016: 1.26)
 * ```
 */
import { CodedError } from '../errors.ts';

/** The orders α ε is minimised over: integers, so every RDP value is exact. */
export const DEFAULT_ORDERS: readonly number[] = Object.freeze([
  ...Array.from({ length: 63 }, (_, i) => i + 2),
  80,
  96,
  128,
  256,
  512,
]);

export type Conversion = 'classic' | 'improved';

/** One kind of round, repeated `steps` times. */
export interface GaussianEvent {
  /** q ∈ [0, 1]: the probability that a given install takes part in a round. */
  samplingRate: number;
  /** z ≥ 0: the noise's standard deviation over the sensitivity (the clip norm). */
  noiseMultiplier: number;
  /** Rounds (default 1). */
  steps?: number;
}

export interface PrivacySpent {
  /** ε for the given δ (Infinity when no noise was added to a round that saw data). */
  epsilon: number;
  /** The order α the minimum was reached at (NaN when ε is Infinity). */
  order: number;
  delta: number;
}

export class AccountantError extends CodedError<'BAD_PRIVACY_PARAMETER'> {
  override readonly name = 'AccountantError';
  constructor(message: string) {
    super('BAD_PRIVACY_PARAMETER', message);
  }
}

function check(condition: boolean, message: string): void {
  if (!condition) throw new AccountantError(message);
}

function logAddExp(a: number, b: number): number {
  if (a === Number.NEGATIVE_INFINITY) return b;
  if (b === Number.NEGATIVE_INFINITY) return a;
  const max = Math.max(a, b);
  return max + Math.log1p(Math.exp(-Math.abs(a - b)));
}

/**
 * RDP of one round of the sampled Gaussian mechanism at an integer order α ≥ 2 (see the module
 * comment for the formula).
 */
export function sampledGaussianRdp(q: number, z: number, alpha: number): number {
  check(Number.isInteger(alpha) && alpha >= 2, `orders must be integers >= 2, got ${alpha}`);
  check(q >= 0 && q <= 1, `the sampling rate must lie in [0, 1], got ${q}`);
  check(z >= 0 && Number.isFinite(z), `the noise multiplier must be finite and >= 0, got ${z}`);
  if (q === 0) return 0;
  if (z === 0) return Number.POSITIVE_INFINITY;
  if (q === 1) return alpha / (2 * z * z);
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  let logBinomial = 0; // log C(α, 0)
  let logA = Number.NEGATIVE_INFINITY;
  for (let k = 0; k <= alpha; k++) {
    if (k > 0) logBinomial += Math.log(alpha - k + 1) - Math.log(k);
    const term = logBinomial + (alpha - k) * log1mQ + k * logQ + (k * k - k) / (2 * z * z);
    logA = logAddExp(logA, term);
  }
  // A_α ≥ 1 mathematically; rounding may leave a hair below, which is no privacy loss.
  return Math.max(0, logA) / (alpha - 1);
}

/** RDP of `steps` rounds at each order (composition adds, Mironov 2017 Prop. 1). */
export function computeRdp(
  event: GaussianEvent,
  orders: readonly number[] = DEFAULT_ORDERS,
): number[] {
  const steps = event.steps ?? 1;
  check(Number.isInteger(steps) && steps >= 0, `steps must be an integer >= 0, got ${steps}`);
  return orders.map((alpha) =>
    steps === 0 ? 0 : steps * sampledGaussianRdp(event.samplingRate, event.noiseMultiplier, alpha),
  );
}

/** (ε, δ) from RDP values at the given orders (see the module comment for both conversions). */
export function epsilonFromRdp(
  orders: readonly number[],
  rdp: readonly number[],
  delta: number,
  conversion: Conversion = 'improved',
): PrivacySpent {
  check(delta > 0 && delta < 1, `δ must lie in (0, 1), got ${delta}`);
  check(orders.length === rdp.length, 'one RDP value per order');
  let best = Number.POSITIVE_INFINITY;
  let order = Number.NaN;
  const logDelta = Math.log(delta);
  orders.forEach((alpha, i) => {
    const value = rdp[i];
    if (!Number.isFinite(value)) return;
    const epsilon =
      conversion === 'classic'
        ? value - logDelta / (alpha - 1)
        : value + Math.log((alpha - 1) / alpha) - (logDelta + Math.log(alpha)) / (alpha - 1);
    if (epsilon < best) {
      best = epsilon;
      order = alpha;
    }
  });
  return { epsilon: Math.max(0, best), order, delta };
}

/** Cumulative privacy loss over rounds, possibly of different kinds. */
export class RdpAccountant {
  readonly orders: readonly number[];
  private readonly rdp: number[];

  constructor(orders: readonly number[] = DEFAULT_ORDERS) {
    check(orders.length > 0, 'at least one order');
    for (const alpha of orders)
      check(Number.isInteger(alpha) && alpha >= 2, `orders must be integers >= 2, got ${alpha}`);
    this.orders = [...orders];
    this.rdp = orders.map(() => 0);
  }

  /** Adds `steps` rounds of this kind. */
  compose(event: GaussianEvent): this {
    computeRdp(event, this.orders).forEach((value, i) => {
      this.rdp[i] += value;
    });
    return this;
  }

  /** The RDP spent so far, per order. */
  spent(): number[] {
    return [...this.rdp];
  }

  epsilon(delta: number, conversion: Conversion = 'improved'): PrivacySpent {
    return epsilonFromRdp(this.orders, this.rdp, delta, conversion);
  }

  /** ε after also composing `event`, without changing this accountant. */
  epsilonAfter(event: GaussianEvent, delta: number, conversion: Conversion = 'improved'): number {
    const next = computeRdp(event, this.orders).map((value, i) => value + this.rdp[i]);
    return epsilonFromRdp(this.orders, next, delta, conversion).epsilon;
  }
}

/** ε of `rounds` identical rounds: a shorthand for operators and the simulation. */
export function epsilonOf(
  event: GaussianEvent,
  delta: number,
  conversion: Conversion = 'improved',
): number {
  return new RdpAccountant().compose(event).epsilon(delta, conversion).epsilon;
}

/**
 * The smallest noise multiplier (to within `tolerance`, relative) whose rounds stay within
 * ε at δ: bisection, since ε falls as z grows. Infinity when even z = 1e4 does not.
 */
export function noiseMultiplierFor(
  target: { epsilon: number; delta: number },
  rounds: { samplingRate: number; steps: number },
  conversion: Conversion = 'improved',
  tolerance = 1e-4,
): number {
  check(target.epsilon > 0, `the target ε must be > 0, got ${target.epsilon}`);
  const spent = (z: number) =>
    epsilonOf({ ...rounds, noiseMultiplier: z }, target.delta, conversion);
  let high = 1;
  while (spent(high) > target.epsilon) {
    high *= 2;
    if (high > 1e4) return Number.POSITIVE_INFINITY;
  }
  let low = 0;
  while ((high - low) / high > tolerance) {
    const mid = (low + high) / 2;
    if (spent(mid) > target.epsilon) low = mid;
    else high = mid;
  }
  return high;
}
