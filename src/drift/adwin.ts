/**
 * ADWIN, ADaptive WINdowing (A. Bifet and R. Gavaldà, 2007, "Learning from Time-Changing
 * Data with Adaptive Windowing", SIAM International Conference on Data Mining).
 *
 * ADWIN keeps a window of the most recent values that it believes come from one
 * distribution. At each check it tries every split of the window into an older part W0 and a
 * newer part W1; when their means differ by more than chance allows, it drops the older
 * values, so the window always spans "since the last change", and reports a drift. There is
 * no window length to tune: the window grows while the stream is stationary and shrinks right
 * after a change.
 *
 * The window is not stored value by value. The paper's ADWIN2 compresses it into an
 * exponential histogram: buckets of 1, 2, 4, … values, at most `maxBuckets` of each size,
 * each keeping only the sum and the variance of its values. Memory and the cost of a check
 * are O(maxBuckets · log W) for a window of W values, and a split is only ever tried at a
 * bucket boundary (O(log W) splits instead of W).
 *
 * The cut test is the paper's Bernstein-style bound on the difference of the two means, in
 * the refined form of MOA's reference implementation (which River also follows):
 *
 *   ε = sqrt(2 · m · σ² · L) + (2/3) · L · m,   L = ln(2 · ln W / δ),
 *   m = 1 / (n0 − minWindowLength + 1) + 1 / (n1 − minWindowLength + 1),
 *
 * with σ² the variance of the whole window; a drift when |mean(W0) − mean(W1)| > ε. The paper
 * shares δ among all W possible splits (L = ln(2W/δ)); as only the O(log W) bucket
 * boundaries are tested, the union bound need only cover ln W of them, so L is smaller and
 * detection quicker.
 *
 * Parameters:
 * - `delta` (δ, default 0.002): the confidence: a check on a stationary window cuts it with
 *   probability at most about δ. A smaller δ raises the bound ε: fewer false alarms, later
 *   detections.
 * - `clock` (default 32): check for a change every `clock` values. The window is updated on
 *   every value, but a check scans all its buckets; checking every 32nd value is what MOA and
 *   River do and delays a detection by at most 31 values.
 * - `maxBuckets` (M, default 5): buckets of each size kept before two are merged. A larger M
 *   splits the window more finely (closer to testing every split) at more memory and time.
 * - `minWindowLength` (default 5): neither side of a split may be shorter, so a handful of
 *   outliers cannot count as a distribution.
 * - `gracePeriod` (default 10): no checks until the window holds more values than this.
 *
 * Measured in `test/unit/drift/adwin.test.ts` (seeded, defaults; a delay counts the values
 * after the change up to and including the one that triggers the detection):
 * - a Bernoulli error rate moving from 0.1 to 0.4 after 1,000 values is detected within 128
 *   values in ≥ 95 of 100 runs (median 88, 95th percentile 120); no run alarms before the
 *   change;
 * - a Gaussian mean moving from 0 to 1 (σ = 1) after 1,000 values: within 64 values in ≥ 95
 *   of 100 runs (median 56); 1 run of 100 alarms before the change;
 * - false alarms on stationary streams, 10 runs of 100,000 values each: Bernoulli(0.1), none
 *   at all; N(0, 1), 2 in the 1,000,000 values.
 *
 * Updates allocate nothing except when the window doubles past its largest size so far (the
 * bucket rows grow by doubling, O(log W) times in a window's life).
 *
 * ```ts
 * import { Adwin } from './adwin.ts';
 * const adwin = new Adwin({ delta: 0.002 });
 * let seed = 7;
 * const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
 * for (let i = 0; i < 2000; i++) {
 *   const error = random() < (i < 1000 ? 0.1 : 0.4) ? 1 : 0;
 *   if (adwin.update(error)) console.log(`drift at ${i}, window now ${adwin.width}`);
 * }
 * // drift at 1119, window now 608; then at 1151, 1183 and 1343
 * ```
 *
 * As the example shows, one change often gives a short run of detections: each check drops
 * the old values it can prove different, and later checks, with more new values as
 * evidence, drop the rest. Treat detections a few checks apart as one change.
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

export interface AdwinOptions {
  delta?: number;
  clock?: number;
  maxBuckets?: number;
  minWindowLength?: number;
  gracePeriod?: number;
}

export interface AdwinState extends DetectorState {
  kind: 'adwin';
  options: Required<AdwinOptions>;
  /** Bucket rows in use; row r holds buckets of 2^r values, oldest first. */
  rows: number;
  /** Buckets in each row (rows values). */
  counts: Uint8Array;
  /** Sum and sum of squared deviations of each bucket, row-major, maxBuckets + 1 per row. */
  totals: Float64Array;
  variances: Float64Array;
  width: number;
  total: number;
  variance: number;
  n: number;
  detections: number;
  drift: boolean;
}

export class Adwin extends DetectorCounts implements DriftDetector<AdwinState> {
  readonly kind = 'adwin';
  private readonly options: Required<AdwinOptions>;
  /** Slots per row: one more than maxBuckets, so a full row can be seen before it is merged. */
  private readonly slots: number;
  private rows = 0;
  private counts = new Uint8Array(8);
  private totals: Float64Array;
  private variances: Float64Array;
  private size = 0;
  private sum = 0;
  /** Sum of squared deviations from the window's mean (σ² · W). */
  private m2 = 0;

  constructor(options: AdwinOptions = {}) {
    super();
    const o = {
      delta: options.delta ?? 0.002,
      clock: options.clock ?? 32,
      maxBuckets: options.maxBuckets ?? 5,
      minWindowLength: options.minWindowLength ?? 5,
      gracePeriod: options.gracePeriod ?? 10,
    };
    checkOption(o.delta > 0 && o.delta < 1, 'adwin delta must be in (0, 1)', o.delta);
    checkOption(Number.isInteger(o.clock) && o.clock >= 1, 'adwin clock must be ≥ 1', o.clock);
    checkOption(
      Number.isInteger(o.maxBuckets) && o.maxBuckets >= 2 && o.maxBuckets <= 100,
      'adwin maxBuckets must be an integer in 2..100',
      o.maxBuckets,
    );
    checkOption(
      Number.isInteger(o.minWindowLength) && o.minWindowLength >= 1,
      'adwin minWindowLength must be a positive integer',
      o.minWindowLength,
    );
    checkOption(
      Number.isInteger(o.gracePeriod) && o.gracePeriod >= 0,
      'adwin gracePeriod must be a non-negative integer',
      o.gracePeriod,
    );
    this.options = o;
    this.slots = o.maxBuckets + 1;
    this.totals = new Float64Array(this.counts.length * this.slots);
    this.variances = new Float64Array(this.counts.length * this.slots);
  }

  /** Values in the current window (those since the last detected change, roughly). */
  get width(): number {
    return this.size;
  }

  /** Mean of the window: ADWIN's estimate of the stream's current mean. */
  get mean(): number {
    return this.size > 0 ? this.sum / this.size : 0;
  }

  /** Variance of the window (population). */
  get variance(): number {
    return this.size > 0 ? this.m2 / this.size : 0;
  }

  update(value: number): boolean {
    checkValue(value);
    this.insert(value);
    this.seen++;
    this.detected =
      this.seen % this.options.clock === 0 && this.size > this.options.gracePeriod
        ? this.shrink()
        : false;
    if (this.detected) this.found++;
    return this.detected;
  }

  reset(): void {
    this.rows = 0;
    this.counts.fill(0);
    this.size = 0;
    this.sum = 0;
    this.m2 = 0;
    this.seen = 0;
    this.found = 0;
    this.detected = false;
  }

  exportState(): AdwinState {
    const cells = this.rows * this.slots;
    return {
      kind: 'adwin',
      options: { ...this.options },
      rows: this.rows,
      counts: this.counts.slice(0, this.rows),
      totals: this.totals.slice(0, cells),
      variances: this.variances.slice(0, cells),
      width: this.size,
      total: this.sum,
      variance: this.m2,
      n: this.seen,
      detections: this.found,
      drift: this.detected,
    };
  }

  static restore(state: AdwinState): Adwin {
    checkState(state?.kind === 'adwin', 'not an ADWIN state');
    const adwin = new Adwin(state.options);
    const { slots } = adwin;
    const rows = state.rows;
    checkState(isCount(rows) && rows <= 64, 'rows');
    checkState(
      state.counts instanceof Uint8Array &&
        state.counts.length === rows &&
        state.counts.every((c) => c <= adwin.options.maxBuckets),
      'counts',
    );
    checkState(isFiniteArray(state.totals, Float64Array, rows * slots), 'totals');
    checkState(isFiniteArray(state.variances, Float64Array, rows * slots), 'variances');
    checkState(isCount(state.width) && isCount(state.n) && isCount(state.detections), 'counts');
    checkState(Number.isFinite(state.total) && state.variance >= 0, 'window sums');
    let width = 0;
    for (let r = 0; r < rows; r++) width += state.counts[r] * 2 ** r;
    checkState(width === state.width, 'width does not match the buckets');
    adwin.grow(Math.max(rows, 1));
    adwin.rows = rows;
    adwin.counts.set(state.counts);
    adwin.totals.set(state.totals);
    adwin.variances.set(state.variances);
    adwin.size = state.width;
    adwin.sum = state.total;
    adwin.m2 = state.variance;
    adwin.seen = state.n;
    adwin.found = state.detections;
    adwin.detected = state.drift === true;
    return adwin;
  }

  /** Adds a bucket of one value to the newest row and restores the histogram's invariant. */
  private insert(value: number): void {
    const w = this.size;
    if (w > 0) {
      const d = value - this.sum / w;
      this.m2 += (w * d * d) / (w + 1);
    }
    this.size = w + 1;
    this.sum += value;
    if (this.rows === 0) this.rows = 1;
    this.push(0, value, 0);
    // A row that reaches maxBuckets + 1 merges its two oldest buckets into one of the next
    // size; the merge can cascade, so each size keeps between 1 and maxBuckets buckets.
    const { slots, totals, variances } = this;
    for (let r = 0; this.counts[r] === slots; r++) {
      if (r + 1 === this.rows) {
        this.grow(r + 2);
        this.rows = r + 2;
      }
      const base = r * slots;
      const size = 2 ** r;
      const t1 = totals[base];
      const t2 = totals[base + 1];
      const d = (t1 - t2) / size;
      // Chan et al.'s pairwise merge of two sums of squared deviations (equal counts).
      this.push(r + 1, t1 + t2, variances[base] + variances[base + 1] + (size * d * d) / 2);
      this.shift(r, 2);
    }
  }

  /**
   * Tries every bucket boundary as a split, oldest first, and drops the oldest bucket while a
   * split shows a change; true if one did.
   */
  private shrink(): boolean {
    const { slots, totals } = this;
    const { delta, minWindowLength } = this.options;
    let changed = false;
    for (let again = true; again; ) {
      again = false;
      const w = this.size;
      const bound = Math.log((2 * Math.log(w)) / delta);
      const variance = this.m2 / w;
      let n0 = 0;
      let u0 = 0;
      let n1 = w;
      let u1 = this.sum;
      scan: for (let r = this.rows - 1; r >= 0; r--) {
        const size = 2 ** r;
        const count = this.counts[r];
        for (let k = 0; k < count; k++) {
          const u = totals[r * slots + k];
          n0 += size;
          u0 += u;
          n1 -= size;
          u1 -= u;
          if (n1 === 0) break scan;
          if (n0 < minWindowLength || n1 < minWindowLength) continue;
          const m = 1 / (n0 - minWindowLength + 1) + 1 / (n1 - minWindowLength + 1);
          const epsilon = Math.sqrt(2 * m * variance * bound) + (2 / 3) * bound * m;
          if (Math.abs(u0 / n0 - u1 / n1) > epsilon) {
            this.dropOldest();
            changed = true;
            again = this.size > 0;
            break scan;
          }
        }
      }
    }
    return changed;
  }

  private dropOldest(): void {
    const r = this.rows - 1;
    const base = r * this.slots;
    const n = 2 ** r;
    const u = this.totals[base];
    const v = this.variances[base];
    this.size -= n;
    this.sum -= u;
    if (this.size > 0) {
      const d = u / n - this.sum / this.size;
      // Removing a part from a combined sum of squared deviations: the merge run backwards.
      this.m2 = Math.max(0, this.m2 - v - (n * this.size * d * d) / (n + this.size));
    } else {
      this.sum = 0;
      this.m2 = 0;
    }
    this.shift(r, 1);
    if (this.counts[r] === 0) this.rows--;
  }

  private push(row: number, total: number, variance: number): void {
    const i = row * this.slots + this.counts[row]++;
    this.totals[i] = total;
    this.variances[i] = variance;
  }

  /** Drops the `by` oldest buckets of a row (a row holds at most maxBuckets + 1). */
  private shift(row: number, by: number): void {
    const base = row * this.slots;
    const count = this.counts[row];
    this.totals.copyWithin(base, base + by, base + count);
    this.variances.copyWithin(base, base + by, base + count);
    // Clear the freed slots so equal windows export equal states.
    this.totals.fill(0, base + count - by, base + count);
    this.variances.fill(0, base + count - by, base + count);
    this.counts[row] = count - by;
  }

  /** Makes room for `rows` bucket rows, doubling so it happens O(log W) times. */
  private grow(rows: number): void {
    if (rows <= this.counts.length) return;
    const capacity = Math.max(rows, this.counts.length * 2);
    const counts = new Uint8Array(capacity);
    counts.set(this.counts);
    const totals = new Float64Array(capacity * this.slots);
    totals.set(this.totals);
    const variances = new Float64Array(capacity * this.slots);
    variances.set(this.variances);
    this.counts = counts;
    this.totals = totals;
    this.variances = variances;
  }
}
