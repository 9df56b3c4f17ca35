/**
 * The forgetting guard: online learning on a device can drift *away* from what works, e.g.
 * after a burst of unrepresentative outcomes or a learning rate raised too far (catastrophic
 * forgetting, in the sense of McCloskey & Cohen, 1989). The version's server head, the head
 * the device started from, is kept as a shadow baseline; every outcome is scored by both
 * heads (the caller computes the two losses, e.g. `head.loss(x, y)` and
 * `baseline.loss(x, y)`, *before* the on-device head learns the outcome), and the guard
 * watches their paired difference d = loss(device) − loss(baseline) over a sliding window.
 *
 * It calls for a reset to the baseline when, over the last `window` outcomes,
 *
 *   mean(d) − z · sd(d) / √n > margin,
 *
 * i.e. the device head is worse than the baseline by more than `margin` per outcome, with
 * one-sided confidence given by `z` (a paired comparison: both heads see the same outcomes,
 * so the noise of the outcomes themselves cancels). The verdict carries the numbers for the
 * report. After a verdict the window starts afresh (the caller resets its head to the
 * baseline, and the old differences no longer describe it).
 *
 * Parameters:
 * - `window` (default 500): outcomes compared. Longer: a steadier mean (fewer spurious
 *   resets), slower to notice.
 * - `margin` (default 0.02): how much worse, in loss units per outcome (nats for log loss,
 *   squared units for squared error), the device head may be before a reset. 0 resets on
 *   any significant deficit; a positive margin tolerates small, temporary costs of adapting.
 * - `z` (default 1.645, one-sided 95%): how sure the deficit must be; 0 compares the plain
 *   mean with the margin.
 * - `minOutcomes` (default `window`): no verdict before this many outcomes in the window.
 *
 * Constant work per outcome (running sums over a ring buffer, recomputed exactly once per
 * window so rounding cannot accumulate) and no allocation except the verdict.
 *
 * ```ts
 * import { ForgettingGuard } from './forgetting_guard.ts';
 * const guard = new ForgettingGuard({ window: 100, margin: 0.02 });
 * for (let i = 0; i < 200; i++) {
 *   const verdict = guard.observe(0.75, 0.6); // the device head is 0.15 nats worse
 *   if (verdict) console.log(`reset at ${verdict.at}: ${verdict.deviceMean} vs ${verdict.baselineMean}`);
 * }
 * // reset at 99: 0.75 vs 0.6 (up to rounding), then at 199: each verdict starts a new window
 * ```
 */
import { LearnerError } from '../errors.ts';

export interface ForgettingGuardOptions {
  window?: number;
  margin?: number;
  z?: number;
  minOutcomes?: number;
}

/** A call for a reset, with the evidence for the report. */
export interface ForgettingVerdict {
  /** The outcome (0-based, counted since the guard was created) that completed the evidence. */
  at: number;
  /** Outcomes compared. */
  n: number;
  deviceMean: number;
  baselineMean: number;
  /** deviceMean − baselineMean. */
  difference: number;
  /** Standard error of the difference. */
  standardError: number;
  margin: number;
}

export interface ForgettingGuardState {
  kind: 'forgetting-guard';
  options: Required<ForgettingGuardOptions>;
  /** Paired losses in the window, oldest first. */
  device: number[];
  baseline: number[];
  /**
   * The running sums (Σ device, Σ baseline, Σ (device − baseline)²) and updates since they
   * were last recomputed exactly, so a restored guard continues bit for bit.
   */
  sums: [number, number, number];
  sinceExact: number;
  /** Outcomes observed in all. */
  n: number;
  resets: number;
}

function checkLoss(loss: number): void {
  if (typeof loss !== 'number' || !Number.isFinite(loss) || loss < 0) {
    throw new LearnerError(
      'BAD_INPUT',
      `the forgetting guard needs finite, non-negative losses, got ${loss}`,
    );
  }
}

function badConfig(why: string, value: unknown): never {
  throw new LearnerError('BAD_CONFIG', `forgetting guard: ${why}, got ${String(value)}`);
}

export class ForgettingGuard {
  private readonly options: Required<ForgettingGuardOptions>;
  private readonly device: Float64Array;
  private readonly baseline: Float64Array;
  private start = 0;
  private length = 0;
  private sumDevice = 0;
  private sumBaseline = 0;
  private sumDiff2 = 0;
  private sinceExact = 0;
  private seen = 0;
  private found = 0;

  constructor(options: ForgettingGuardOptions = {}) {
    const window = options.window ?? 500;
    const o = {
      window,
      margin: options.margin ?? 0.02,
      z: options.z ?? 1.645,
      minOutcomes: options.minOutcomes ?? window,
    };
    if (!Number.isInteger(o.window) || o.window < 2 || o.window > 1e6)
      badConfig('window must be an integer in 2..1,000,000', o.window);
    if (!Number.isFinite(o.margin) || o.margin < 0) badConfig('margin must be ≥ 0', o.margin);
    if (!Number.isFinite(o.z) || o.z < 0) badConfig('z must be ≥ 0', o.z);
    if (!Number.isInteger(o.minOutcomes) || o.minOutcomes < 2 || o.minOutcomes > o.window)
      badConfig('minOutcomes must be an integer in 2..window', o.minOutcomes);
    this.options = o;
    this.device = new Float64Array(o.window);
    this.baseline = new Float64Array(o.window);
  }

  /** Outcomes observed since creation. */
  get n(): number {
    return this.seen;
  }

  /** Verdicts given since creation. */
  get resets(): number {
    return this.found;
  }

  /** Outcomes in the current window. */
  get width(): number {
    return this.length;
  }

  /** The current comparison (null before any outcome), whether or not it calls for a reset. */
  get comparison(): Omit<ForgettingVerdict, 'at'> | null {
    if (this.length === 0) return null;
    return this.summary();
  }

  /**
   * Adds one outcome's two losses (both before the device head learned it); returns a verdict
   * when the device head is worse by more than the margin, else null. Non-finite or negative
   * losses throw BAD_INPUT and change nothing.
   */
  observe(deviceLoss: number, baselineLoss: number): ForgettingVerdict | null {
    checkLoss(deviceLoss);
    checkLoss(baselineLoss);
    const { window } = this.options;
    const at = this.seen++;
    if (this.length === window) {
      const d = this.device[this.start];
      const b = this.baseline[this.start];
      this.sumDevice -= d;
      this.sumBaseline -= b;
      this.sumDiff2 -= (d - b) * (d - b);
      this.device[this.start] = deviceLoss;
      this.baseline[this.start] = baselineLoss;
      this.start = (this.start + 1) % window;
    } else {
      const i = (this.start + this.length++) % window;
      this.device[i] = deviceLoss;
      this.baseline[i] = baselineLoss;
    }
    const diff = deviceLoss - baselineLoss;
    this.sumDevice += deviceLoss;
    this.sumBaseline += baselineLoss;
    this.sumDiff2 += diff * diff;
    if (++this.sinceExact >= window) this.recompute();
    if (this.length < this.options.minOutcomes) return null;
    const n = this.length;
    const difference = (this.sumDevice - this.sumBaseline) / n;
    const variance = Math.max(0, (this.sumDiff2 - n * difference * difference) / (n - 1));
    const { margin, z } = this.options;
    if (difference - z * Math.sqrt(variance / n) <= margin) return null;
    const verdict = { at, ...this.summary() };
    this.found++;
    this.clear();
    return verdict;
  }

  /** Empties the window, e.g. after the caller reset its head some other way. */
  clear(): void {
    this.start = 0;
    this.length = 0;
    this.sumDevice = 0;
    this.sumBaseline = 0;
    this.sumDiff2 = 0;
    this.sinceExact = 0;
  }

  exportState(): ForgettingGuardState {
    const device: number[] = [];
    const baseline: number[] = [];
    for (let k = 0; k < this.length; k++) {
      const i = (this.start + k) % this.options.window;
      device.push(this.device[i]);
      baseline.push(this.baseline[i]);
    }
    return {
      kind: 'forgetting-guard',
      options: { ...this.options },
      device,
      baseline,
      sums: [this.sumDevice, this.sumBaseline, this.sumDiff2],
      sinceExact: this.sinceExact,
      n: this.seen,
      resets: this.found,
    };
  }

  /** The guard a state came from; BAD_CONFIG if the state is corrupt. */
  static restore(state: ForgettingGuardState): ForgettingGuard {
    const bad = (why: string): never => {
      throw new LearnerError('BAD_CONFIG', `invalid forgetting guard state: ${why}`);
    };
    if (state?.kind !== 'forgetting-guard') bad('not a forgetting guard state');
    const guard = new ForgettingGuard(state.options);
    const { device, baseline } = state;
    if (!Array.isArray(device) || !Array.isArray(baseline) || device.length !== baseline.length)
      bad('losses');
    if (device.length > guard.options.window) bad('more losses than the window holds');
    for (const loss of [...device, ...baseline]) {
      if (typeof loss !== 'number' || !Number.isFinite(loss) || loss < 0) bad('losses');
    }
    if (!Array.isArray(state.sums) || state.sums.length !== 3 || !state.sums.every(Number.isFinite))
      bad('sums');
    for (const count of [state.n, state.resets, state.sinceExact]) {
      if (!Number.isSafeInteger(count) || count < 0) bad('counts');
    }
    if (state.n < device.length) bad('fewer outcomes than the window holds');
    guard.device.set(device);
    guard.baseline.set(baseline);
    guard.length = device.length;
    if (state.sinceExact >= guard.options.window) bad('sinceExact');
    [guard.sumDevice, guard.sumBaseline, guard.sumDiff2] = state.sums;
    guard.sinceExact = state.sinceExact;
    guard.seen = state.n;
    guard.found = state.resets;
    return guard;
  }

  private summary(): Omit<ForgettingVerdict, 'at'> {
    const n = this.length;
    const deviceMean = this.sumDevice / n;
    const baselineMean = this.sumBaseline / n;
    // As in `observe`, so the verdict's numbers are exactly those it was decided on.
    const difference = (this.sumDevice - this.sumBaseline) / n;
    // Sample variance of the paired differences from Σd² and the mean.
    const variance =
      n > 1 ? Math.max(0, (this.sumDiff2 - n * difference * difference) / (n - 1)) : 0;
    return {
      n,
      deviceMean,
      baselineMean,
      difference,
      standardError: Math.sqrt(variance / n),
      margin: this.options.margin,
    };
  }

  /** Running sums again from the window itself: exact, and the same after a restore. */
  private recompute(): void {
    let d = 0;
    let b = 0;
    let s = 0;
    for (let k = 0; k < this.length; k++) {
      const i = (this.start + k) % this.options.window;
      d += this.device[i];
      b += this.baseline[i];
      s += (this.device[i] - this.baseline[i]) ** 2;
    }
    this.sumDevice = d;
    this.sumBaseline = b;
    this.sumDiff2 = s;
    this.sinceExact = 0;
  }
}
