/**
 * KSWIN, Kolmogorov–Smirnov WINdowing (C. Raab, M. Heusinger and F.-M. Schleif, 2020,
 * "Reactive Soft Prototype Computing for Concept Drift Streams", Neurocomputing 416,
 * 340–351).
 *
 * KSWIN compares whole distributions, not just means, so it also sees a change of spread or
 * shape that leaves the mean where it was. It keeps a sliding window Ψ of the last
 * `windowSize` (n) values. The last `statSize` (r) of them stand for the current concept R;
 * r values drawn uniformly without replacement from the older n − r stand for the previous
 * concept W. A two-sample Kolmogorov–Smirnov test compares them, and a drift is reported when
 *
 *   dist(R, W) > sqrt(−ln(α) / r),
 *
 * the paper's rejection rule (dist is the largest gap between the two empirical CDFs). On a
 * drift the window keeps only R, so the next test waits until the window has refilled with
 * values of the new concept.
 *
 * Parameters:
 * - `alpha` (α, default 0.005): the significance level of each test. The test runs on every
 *   value once the window is full, so the false-alarm rate per value is of the order of α
 *   (consecutive tests share most of their data): keep α small.
 * - `windowSize` (n, default 100): the sliding window. Longer remembers the old concept
 *   better (a stabler W) but costs more memory; detection waits until it is full.
 * - `statSize` (r, default 30): the size of both samples. Larger detects smaller changes and
 *   lowers the critical distance, but R then needs more values of the new concept.
 *   At most half of `windowSize`, as W is drawn without replacement from the n − r older
 *   values.
 * - `seed` (default 1): seeds the sampling of W, so a run can be replayed exactly (and a
 *   restored detector continues with the same draws).
 *
 * KS on 0/1 values: the statistic is the gap between the two error rates, and with r = 30
 * the critical gap is 13/30, so KSWIN sees only large jumps in a binary error stream; on
 * such a stream ADWIN or Page-Hinkley are the better fit.
 *
 * Measured in `test/unit/drift/kswin.test.ts` (seeded, defaults, the sampling seed varied per
 * run; a delay counts the values after the change up to and including the detecting one):
 * - a Gaussian mean moving from 0 to 1 (σ = 1) after 1,000 values is detected within 48
 *   values in ≥ 90 of 100 runs and within 170 in ≥ 95 (median 22);
 * - a change of spread alone, σ 1 → 3 with the mean kept at 0, within 60 values in ≥ 65 of
 *   100 runs (median 37), where ADWIN, which watches the mean, manages 5 of 20;
 * - a Bernoulli error rate moving from 0.1 to 0.4: caught at all (within 2,000 values) in
 *   only 70–80 of 100 runs;
 * - false alarms on stationary streams of 100,000 values: N(0, 1), about 3 per 1,000
 *   values (283–301 per 100,000 in 3 runs; so 97 of the 100 runs above alarmed before their
 *   change); Bernoulli(0.1), none in 2 runs. Lower α where alarms are costly, at the
 *   price of missing modest changes (the detector has only the few dozen values while the
 *   change straddles its window to see it).
 *
 * No allocation per update: the window is a ring buffer, the two samples live in
 * preallocated typed arrays sorted in place, and the sampling permutes a persistent index
 * array (a partial Fisher–Yates shuffle). A test costs O(r log r).
 *
 * ```ts
 * import { Kswin } from './kswin.ts';
 * const kswin = new Kswin({ alpha: 0.005, windowSize: 100, statSize: 30, seed: 42 });
 * for (let i = 0; i < 400; i++) {
 *   const value = (i < 200 ? 0 : 3) + Math.sin(i); // the level moves at 200
 *   if (kswin.update(value)) console.log(`drift at ${i}`);
 * }
 * // drift at 212
 * ```
 */
import {
  checkOption,
  checkState,
  checkValue,
  DetectorCounts,
  type DetectorState,
  type DriftDetector,
  isCount,
  isFiniteArray,
} from './detector.ts';

export interface KswinOptions {
  alpha?: number;
  windowSize?: number;
  statSize?: number;
  seed?: number;
}

export interface KswinState extends DetectorState {
  kind: 'kswin';
  options: Required<KswinOptions>;
  /** The window, oldest first (length ≤ windowSize). */
  window: Float64Array;
  /** The sampling permutation of the older part's positions (windowSize − statSize). */
  order: Int32Array;
  /** PRNG state (mulberry32). */
  random: number;
  statistic: number;
  n: number;
  detections: number;
  drift: boolean;
}

export class Kswin extends DetectorCounts implements DriftDetector<KswinState> {
  readonly kind = 'kswin';
  private readonly options: Required<KswinOptions>;
  /** Critical KS distance, sqrt(−ln α / r). */
  private readonly critical: number;
  /** Ring buffer: `length` values starting at `start`. */
  private readonly ring: Float64Array;
  private start = 0;
  private length = 0;
  private readonly order: Int32Array;
  private readonly older: Float64Array;
  private readonly recent: Float64Array;
  private random: number;
  private distance = 0;

  constructor(options: KswinOptions = {}) {
    super();
    const o = {
      alpha: options.alpha ?? 0.005,
      windowSize: options.windowSize ?? 100,
      statSize: options.statSize ?? 30,
      seed: options.seed ?? 1,
    };
    checkOption(o.alpha > 0 && o.alpha < 1, 'kswin alpha must be in (0, 1)', o.alpha);
    checkOption(
      Number.isInteger(o.statSize) && o.statSize >= 2,
      'kswin statSize must be an integer ≥ 2',
      o.statSize,
    );
    checkOption(
      Number.isInteger(o.windowSize) && o.windowSize >= 2 * o.statSize && o.windowSize <= 1e6,
      `kswin windowSize must be an integer ≥ 2 · statSize (${2 * o.statSize})`,
      o.windowSize,
    );
    checkOption(Number.isInteger(o.seed), 'kswin seed must be an integer', o.seed);
    this.options = o;
    this.critical = Math.sqrt(-Math.log(o.alpha) / o.statSize);
    this.ring = new Float64Array(o.windowSize);
    this.order = new Int32Array(o.windowSize - o.statSize);
    this.older = new Float64Array(o.statSize);
    this.recent = new Float64Array(o.statSize);
    this.random = o.seed >>> 0;
    this.reset();
  }

  /** The KS distance of the last test (0 before the window first fills). */
  get statistic(): number {
    return this.distance;
  }

  update(value: number): boolean {
    checkValue(value);
    const size = this.options.windowSize;
    const ring = this.ring;
    this.seen++;
    if (this.length < size) {
      ring[(this.start + this.length++) % size] = value;
    } else {
      ring[this.start] = value;
      this.start = (this.start + 1) % size;
    }
    this.detected = false;
    if (this.length < size) return false;

    const r = this.options.statSize;
    const { order, older, recent } = this;
    const pool = order.length;
    for (let i = 0; i < r; i++) {
      // Partial Fisher–Yates: the first r entries become a uniform sample without replacement.
      const j = i + Math.floor(this.next() * (pool - i));
      const pick = order[j];
      order[j] = order[i];
      order[i] = pick;
      older[i] = ring[(this.start + pick) % size];
      recent[i] = ring[(this.start + pool + i) % size];
    }
    older.sort();
    recent.sort();
    this.distance = ksDistance(older, recent);
    if (this.distance > this.critical) {
      this.detected = true;
      this.found++;
      // Keep R only (in arrival order): W and R now straddle the change, so testing them
      // again would re-detect it.
      for (let i = 0; i < r; i++) older[i] = ring[(this.start + pool + i) % size];
      ring.set(older);
      this.start = 0;
      this.length = r;
    }
    return this.detected;
  }

  reset(): void {
    this.start = 0;
    this.length = 0;
    for (let i = 0; i < this.order.length; i++) this.order[i] = i;
    this.random = this.options.seed >>> 0;
    this.distance = 0;
    this.seen = 0;
    this.found = 0;
    this.detected = false;
  }

  exportState(): KswinState {
    const window = new Float64Array(this.length);
    const size = this.options.windowSize;
    for (let i = 0; i < this.length; i++) window[i] = this.ring[(this.start + i) % size];
    return {
      kind: 'kswin',
      options: { ...this.options },
      window,
      order: this.order.slice(),
      random: this.random,
      statistic: this.distance,
      n: this.seen,
      detections: this.found,
      drift: this.detected,
    };
  }

  static restore(state: KswinState): Kswin {
    checkState(state?.kind === 'kswin', 'not a KSWIN state');
    const kswin = new Kswin(state.options);
    const { windowSize } = kswin.options;
    const pool = kswin.order.length;
    checkState(
      state.window instanceof Float64Array &&
        state.window.length <= windowSize &&
        isFiniteArray(state.window, Float64Array, state.window.length),
      'window',
    );
    const seen = new Uint8Array(pool);
    checkState(
      state.order instanceof Int32Array &&
        state.order.length === pool &&
        state.order.every((i) => i >= 0 && i < pool && seen[i]++ === 0),
      'order is not a permutation',
    );
    checkState(Number.isInteger(state.random) && state.random >= 0, 'random');
    checkState(isCount(state.n) && isCount(state.detections), 'counts');
    kswin.ring.set(state.window);
    kswin.length = state.window.length;
    kswin.order.set(state.order);
    kswin.random = state.random >>> 0;
    kswin.distance = Number.isFinite(state.statistic) ? state.statistic : 0;
    kswin.seen = state.n;
    kswin.found = state.detections;
    kswin.detected = state.drift === true;
    return kswin;
  }

  /** mulberry32: a tiny PRNG whose whole state is one uint32, easy to persist. */
  private next(): number {
    this.random = (this.random + 0x6d2b79f5) >>> 0;
    let t = this.random;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

/** Largest gap between the empirical CDFs of two sorted samples (ties handled as one step). */
export function ksDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  const m = b.length;
  let i = 0;
  let j = 0;
  let distance = 0;
  while (i < n && j < m) {
    const v = Math.min(a[i], b[j]);
    while (i < n && a[i] === v) i++;
    while (j < m && b[j] === v) j++;
    const gap = Math.abs(i / n - j / m);
    if (gap > distance) distance = gap;
  }
  return distance;
}
