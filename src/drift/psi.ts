/**
 * Population Stability Index: how far the distribution of a feature or of the model's scores
 * on the device has moved from a reference distribution (the training data's), over bins.
 * With e_i and a_i the reference ("expected") and observed ("actual") shares of bin i,
 *
 *   PSI = Σ_i (a_i − e_i) · ln(a_i / e_i),
 *
 * the symmetrised Kullback–Leibler divergence of the two binned distributions (a share of 0
 * is floored at `epsilon`, as ln 0 would make one empty bin decide everything). The customary
 * reading, from credit scoring (N. Siddiqi, 2006, "Credit Risk Scorecards", Wiley; its
 * statistical properties in B. Yurdakul, 2018, "Statistical Properties of Population
 * Stability Index", PhD thesis, Western Michigan University):
 *
 *   PSI < 0.1          no significant change ('stable')
 *   0.1 ≤ PSI < 0.25   a moderate change, worth watching ('moderate')
 *   PSI ≥ 0.25         a significant change ('significant'), the default alarm threshold
 *
 * Unlike ADWIN, Page-Hinkley or KSWIN, PSI compares against a fixed reference rather than
 * the stream's own past, so it answers "is this still the population the model was trained
 * on?": the feature drift of issue 7. Sampling noise alone gives PSI ≈ (B − 1)(1/N + 1/M)
 * for B bins, N observed and M reference values (0.02 for 10 bins, N = M = 1,000), far
 * below 0.1; hence `minSamples`.
 *
 * Where the bins come from:
 * - {@link Psi.fromReference}: B bins at the quantiles of a reference sample, so each holds
 *   about 1/B of it (the usual choice: every bin carries evidence), with the reference's own
 *   shares as e_i; ties in a discrete reference merge bins.
 * - {@link Psi.fromEdges}: fixed interior edges (e.g. 0.1, 0.2, … for probabilities) and the
 *   expected shares, or a reference sample to count them from.
 * - {@link Psi.fromNormal}: B equiprobable bins of N(mean, std²), for a reference known only
 *   by its mean and standard deviation (what a feature spec's `reference` carries).
 * A value v falls in bin i when edges[i − 1] ≤ v < edges[i] (bins 0 and B − 1 are open).
 *
 * Parameters:
 * - `window` (default 1,000): compare the last `window` values; 0 compares everything since
 *   the last reset (then reset it per reporting period).
 * - `threshold` (default 0.25): `update` reports a drift when PSI rises above it.
 * - `minSamples` (default 1,000, at most `window`): no verdict before this many values.
 * - `epsilon` (default 10⁻⁴): floor on a share inside the logarithm.
 *
 * Measured in `test/unit/drift/psi.test.ts` (20 seeded runs, 10 bins, 1,000 observed values):
 * - identical distributions: 1,000 fresh N(0, 1) draws against the quantile bins of 1,000
 *   others give PSI < 0.04 (< 0.02 against {@link Psi.fromNormal}(0, 1)): 'stable';
 * - a mean shift of half a standard deviation gives 0.15–0.30, of one standard deviation
 *   0.75–1.07: above 0.25, 'significant', in every run.
 *
 * `update` costs a binary search over the edges plus O(B) for the index, with no allocation:
 * counts per bin, and a ring buffer of bin indices for the window.
 *
 * ```ts
 * import { Psi } from './psi.ts';
 * const reference = Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 2); // training scores
 * const monitor = Psi.fromReference(reference, { bins: 10, window: 500 });
 * for (let i = 0; i < 500; i++) monitor.update(Math.sin(i * 7) * 2 + 1.5); // shifted by 1.5
 * monitor.value; // 3.4
 * monitor.severity; // 'significant'
 * ```
 */
import {
  checkOption,
  checkState,
  checkValue,
  DetectorCounts,
  isCount,
  isFiniteArray,
} from './detector.ts';

export type PsiSeverity = 'stable' | 'moderate' | 'significant';

export interface PsiOptions {
  window?: number;
  threshold?: number;
  minSamples?: number;
  epsilon?: number;
}

export interface PsiState {
  kind: 'psi';
  options: Required<PsiOptions>;
  /** Interior bin edges, increasing (bins = edges + 1). */
  edges: Float64Array;
  /** Reference share of each bin (sums to 1). */
  expected: Float64Array;
  /** Observed values per bin in the current window (or since reset). */
  counts: Float64Array;
  /** Bin of each value in the window, oldest first (empty when window is 0). */
  recent: Uint16Array;
  n: number;
  detections: number;
  drift: boolean;
  above: boolean;
}

/** PSI between two histograms over the same bins (counts or shares: each is normalised). */
export function psi(
  expected: ArrayLike<number>,
  actual: ArrayLike<number>,
  epsilon = 1e-4,
): number {
  if (expected.length !== actual.length) {
    checkOption(false, 'psi needs histograms of equal length', actual.length);
  }
  let e = 0;
  let a = 0;
  for (let i = 0; i < expected.length; i++) {
    e += expected[i];
    a += actual[i];
  }
  if (!(e > 0 && a > 0)) return 0;
  let sum = 0;
  for (let i = 0; i < expected.length; i++) {
    const p = Math.max(expected[i] / e, epsilon);
    const q = Math.max(actual[i] / a, epsilon);
    sum += (q - p) * Math.log(q / p);
  }
  return sum;
}

export function psiSeverity(value: number): PsiSeverity {
  return value < 0.1 ? 'stable' : value < 0.25 ? 'moderate' : 'significant';
}

export class Psi extends DetectorCounts {
  readonly kind = 'psi';
  private readonly options: Required<PsiOptions>;
  private readonly edges: Float64Array;
  private readonly expected: Float64Array;
  private readonly counts: Float64Array;
  private readonly ring: Uint16Array;
  private start = 0;
  private length = 0;
  private total = 0;
  private above = false;

  /** Bins at the quantiles of `reference`; expected shares counted from it. */
  static fromReference(
    reference: ArrayLike<number>,
    options: PsiOptions & { bins?: number } = {},
  ): Psi {
    const bins = options.bins ?? 10;
    checkOption(Number.isInteger(bins) && bins >= 2 && bins <= 1000, 'psi bins in 2..1000', bins);
    checkOption(reference.length >= bins, 'psi needs at least one reference value per bin', bins);
    const sorted = Float64Array.from(reference);
    for (const v of sorted) checkValue(v);
    sorted.sort();
    const edges: number[] = [];
    for (let j = 1; j < bins; j++) {
      const edge = sorted[Math.floor((j * sorted.length) / bins)];
      // A repeated quantile (a discrete reference) would make an empty bin: merge instead.
      if (edges.length === 0 || edge > edges[edges.length - 1]) edges.push(edge);
    }
    return Psi.fromEdges(edges, sorted, options);
  }

  /**
   * Fixed interior `edges` (increasing). `reference` is either the expected share of each of
   * the edges.length + 1 bins (`{ shares }`), or a sample to count them from.
   */
  static fromEdges(
    edges: ArrayLike<number>,
    reference: ArrayLike<number> | { shares: ArrayLike<number> },
    options: PsiOptions = {},
  ): Psi {
    const e = Float64Array.from(edges);
    for (let i = 0; i < e.length; i++) {
      checkOption(Number.isFinite(e[i]), 'psi edges must be finite', e[i]);
      checkOption(i === 0 || e[i] > e[i - 1], 'psi edges must increase', e[i]);
    }
    const expected = new Float64Array(e.length + 1);
    if ('shares' in reference) {
      checkOption(
        reference.shares.length === expected.length,
        `psi needs ${expected.length} shares for ${e.length} edges`,
        reference.shares.length,
      );
      expected.set(reference.shares);
    } else {
      for (let i = 0; i < reference.length; i++) {
        checkValue(reference[i]);
        expected[bin(e, reference[i])]++;
      }
    }
    return new Psi(e, expected, options);
  }

  /** `bins` equiprobable bins of N(mean, std²). */
  static fromNormal(mean: number, std: number, options: PsiOptions & { bins?: number } = {}): Psi {
    const bins = options.bins ?? 10;
    checkOption(Number.isInteger(bins) && bins >= 2 && bins <= 1000, 'psi bins in 2..1000', bins);
    checkOption(Number.isFinite(mean), 'psi mean must be finite', mean);
    checkOption(Number.isFinite(std) && std > 0, 'psi std must be > 0', std);
    const edges = new Float64Array(bins - 1);
    for (let j = 1; j < bins; j++) edges[j - 1] = mean + std * normalQuantile(j / bins);
    return new Psi(edges, new Float64Array(bins).fill(1 / bins), options);
  }

  constructor(edges: Float64Array, expected: Float64Array, options: PsiOptions = {}) {
    super();
    const window = options.window ?? 1000;
    const o = {
      window,
      threshold: options.threshold ?? 0.25,
      minSamples: options.minSamples ?? (window > 0 ? Math.min(window, 1000) : 1000),
      epsilon: options.epsilon ?? 1e-4,
    };
    checkOption(
      Number.isInteger(o.window) && o.window >= 0 && o.window <= 1e7,
      'psi window must be a non-negative integer',
      o.window,
    );
    checkOption(Number.isFinite(o.threshold) && o.threshold > 0, 'psi threshold > 0', o.threshold);
    checkOption(
      Number.isInteger(o.minSamples) &&
        o.minSamples >= 1 &&
        (o.window === 0 || o.minSamples <= o.window),
      'psi minSamples must be a positive integer, at most window',
      o.minSamples,
    );
    checkOption(o.epsilon > 0 && o.epsilon < 0.1, 'psi epsilon in (0, 0.1)', o.epsilon);
    checkOption(
      expected.length === edges.length + 1,
      'psi expected shares per bin',
      expected.length,
    );
    checkOption(expected.length <= 65536, 'psi supports at most 65,536 bins', expected.length);
    let sum = 0;
    for (const share of expected) {
      checkOption(Number.isFinite(share) && share >= 0, 'psi expected shares must be ≥ 0', share);
      sum += share;
    }
    checkOption(sum > 0, 'psi expected shares must not all be 0', sum);
    this.options = o;
    this.edges = edges;
    this.expected = expected.map((share) => share / sum);
    this.counts = new Float64Array(expected.length);
    this.ring = new Uint16Array(o.window);
  }

  get bins(): number {
    return this.expected.length;
  }

  /** PSI of the values in the window (or since reset) against the reference; 0 if none. */
  get value(): number {
    return psi(this.expected, this.counts, this.options.epsilon);
  }

  get severity(): PsiSeverity {
    return psiSeverity(this.value);
  }

  /** Reference shares per bin (a copy). */
  get expectedShares(): Float64Array {
    return this.expected.slice();
  }

  /** Observed shares per bin (a copy; zeros before any value). */
  get actualShares(): Float64Array {
    return this.counts.map((c) => (this.total > 0 ? c / this.total : 0));
  }

  /**
   * Adds a value; true when PSI has just risen above the threshold (after `minSamples`). It
   * reports the crossing, not every value while above, so one shift is one detection; a new
   * detection needs PSI to fall back to the threshold first.
   */
  update(value: number): boolean {
    checkValue(value);
    const b = bin(this.edges, value);
    const size = this.options.window;
    this.seen++;
    if (size === 0) {
      this.total++;
    } else if (this.length < size) {
      this.ring[(this.start + this.length++) % size] = b;
      this.total++;
    } else {
      this.counts[this.ring[this.start]]--;
      this.ring[this.start] = b;
      this.start = (this.start + 1) % size;
    }
    this.counts[b]++;
    this.detected = false;
    if (this.total < this.options.minSamples) return false;
    const above = this.value > this.options.threshold;
    this.detected = above && !this.above;
    this.above = above;
    if (this.detected) this.found++;
    return this.detected;
  }

  /** Forgets the observed values (the reference stays). */
  reset(): void {
    this.counts.fill(0);
    this.start = 0;
    this.length = 0;
    this.total = 0;
    this.seen = 0;
    this.found = 0;
    this.detected = false;
    this.above = false;
  }

  exportState(): PsiState {
    const size = this.options.window;
    const recent = new Uint16Array(this.length);
    for (let i = 0; i < this.length; i++) recent[i] = this.ring[(this.start + i) % size];
    return {
      kind: 'psi',
      options: { ...this.options },
      edges: this.edges.slice(),
      expected: this.expected.slice(),
      counts: this.counts.slice(),
      recent,
      n: this.seen,
      detections: this.found,
      drift: this.detected,
      above: this.above,
    };
  }

  static restore(state: PsiState): Psi {
    checkState(state?.kind === 'psi', 'not a PSI state');
    checkState(
      state.edges instanceof Float64Array && state.expected instanceof Float64Array,
      'bins',
    );
    const monitor = new Psi(state.edges.slice(), state.expected, state.options);
    const bins = monitor.bins;
    checkState(isFiniteArray(state.counts, Float64Array, bins), 'counts');
    checkState(
      state.counts.every((c) => Number.isInteger(c) && c >= 0),
      'counts',
    );
    checkState(isCount(state.n) && isCount(state.detections), 'n');
    const size = monitor.options.window;
    checkState(
      state.recent instanceof Uint16Array &&
        state.recent.length <= size &&
        state.recent.every((b) => b < bins),
      'recent',
    );
    if (size > 0) {
      // The counts must be exactly the window's histogram, or values would leave bins they
      // never entered.
      const check = new Float64Array(bins);
      for (const b of state.recent) check[b]++;
      checkState(
        check.every((c, i) => c === state.counts[i]),
        'counts do not match the window',
      );
      monitor.ring.set(state.recent);
      monitor.length = state.recent.length;
    }
    // The constructor renormalised the shares; the state's are already normalised, and taking
    // them as they are keeps a restored monitor's PSI bit for bit the original's.
    monitor.expected.set(state.expected);
    monitor.counts.set(state.counts);
    monitor.total = state.counts.reduce((s, c) => s + c, 0);
    monitor.seen = state.n;
    monitor.found = state.detections;
    monitor.detected = state.drift === true;
    monitor.above = state.above === true;
    return monitor;
  }
}

/** Index of the bin of v: the number of edges ≤ v (binary search). */
function bin(edges: Float64Array, v: number): number {
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (edges[mid] <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// Acklam's coefficients.
const A = [
  -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
  2.506628277459239,
];
const B = [
  -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572,
];
const C = [
  -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734,
  4.374664141464968, 2.938163982698783,
];
const D = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];

/**
 * Φ⁻¹(p), the standard normal quantile, by P. J. Acklam's rational approximation (relative
 * error below 1.2 · 10⁻⁹, far finer than any bin edge needs).
 */
export function normalQuantile(p: number): number {
  checkOption(p > 0 && p < 1, 'normalQuantile needs p in (0, 1)', p);
  const low = 0.02425;
  if (p < low || p > 1 - low) {
    const q = Math.sqrt(-2 * Math.log(p < low ? p : 1 - p));
    const x =
      (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5]) /
      ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1);
    return p < low ? x : -x;
  }
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q) /
    (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1)
  );
}
