/**
 * Seeded synthetic streams with a known change point, and the two figures every detector's
 * doc states: the detection delay after a change and the false alarms on a stationary stream.
 */
import { mulberry32 } from '../../../models/onnx/prng.ts';
import type { DriftDetector } from '../../../src/drift/index.ts';

export type Sampler = (random: () => number) => number;

export const bernoulli =
  (p: number): Sampler =>
  (random) =>
    random() < p ? 1 : 0;

/** N(mean, std²) by Box–Muller (one of the pair; simplicity over speed). */
export const gaussian =
  (mean: number, std = 1): Sampler =>
  (random) => {
    const u = 1 - random(); // (0, 1]: log(0) would be −∞
    return mean + std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  };

export interface ChangeRun {
  /** Values after the change fed up to and including the detecting one; null if missed. */
  delay: number | null;
  /** Detections before the change. */
  early: number;
}

/**
 * Feeds `before` values of one distribution, then up to `after` of another; stops at the
 * first detection after the change.
 */
export function runChange(
  detector: DriftDetector,
  seed: number,
  from: Sampler,
  to: Sampler,
  before: number,
  after: number,
): ChangeRun {
  const random = mulberry32(seed);
  let early = 0;
  for (let i = 0; i < before; i++) if (detector.update(from(random))) early++;
  for (let i = 0; i < after; i++) if (detector.update(to(random))) return { delay: i + 1, early };
  return { delay: null, early };
}

/** Detections on `length` values of one distribution. */
export function falseAlarms(
  detector: DriftDetector,
  seed: number,
  sampler: Sampler,
  length: number,
): number {
  const random = mulberry32(seed);
  let alarms = 0;
  for (let i = 0; i < length; i++) if (detector.update(sampler(random))) alarms++;
  return alarms;
}

export interface DelayFigures {
  /** Runs that detected the change within `bound` values. */
  within: number;
  /** Runs with a detection before the change. */
  early: number;
  median: number;
  p95: number;
  missed: number;
}

export function delays(runs: readonly ChangeRun[], bound: number): DelayFigures {
  const found = runs
    .map((r) => r.delay)
    .filter((d): d is number => d !== null)
    .sort((a, b) => a - b);
  const at = (q: number) =>
    found.length === runs.length
      ? found[Math.min(found.length - 1, Math.ceil(q * runs.length) - 1)]
      : Number.POSITIVE_INFINITY;
  return {
    within: found.filter((d) => d <= bound).length,
    early: runs.filter((r) => r.early > 0).length,
    median: at(0.5),
    p95: at(0.95),
    missed: runs.length - found.length,
  };
}
