/**
 * The surface every drift detector shares, so the worker can watch any stream (the
 * prequential loss, predicted scores, a feature) with any detector, persist it with the head
 * and resume it exactly after a restart.
 *
 * A detector reads one number per event and answers whether the distribution of those
 * numbers changed *at this step*. It is a change detector, not a threshold on the value: a
 * steady error rate of 0.4 is no drift, a move from 0.1 to 0.4 is.
 *
 * ```ts
 * import { createDetector, restoreDetector } from './index.ts';
 * const detector = createDetector('adwin');
 * for (const error of [0, 0, 1, 0]) if (detector.update(error)) console.log('drift');
 * const copy = restoreDetector(detector.exportState()); // continues bit for bit
 * ```
 */
import { LearnerError } from '../errors.ts';

export type DetectorKind = 'adwin' | 'ph' | 'kswin';

export interface DriftDetector<State extends DetectorState = DetectorState> {
  readonly kind: State['kind'];
  /**
   * Feeds one value; true when a change is detected at this step. NaN/±∞ throw
   * `LearnerError('BAD_INPUT')` and change nothing (one bad reading must not poison the
   * statistics every later decision rests on).
   */
  update(value: number): boolean;
  /** Whether the last update detected a change. */
  readonly drift: boolean;
  /** Values fed since construction or the last {@link reset}. */
  readonly n: number;
  /** Changes detected since construction or the last {@link reset}. */
  readonly detections: number;
  /** Forgets everything, as if just constructed with the same options. */
  reset(): void;
  /** A structured-clone-friendly copy (typed arrays, no functions) for IndexedDB. */
  exportState(): State;
}

/** The persisted form of any detector; `kind` says which `restore` reads it. */
export interface DetectorState {
  kind: DetectorKind;
}

/** Throws BAD_INPUT unless `value` is a finite number. */
export function checkValue(value: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new LearnerError('BAD_INPUT', `a drift detector needs a finite number, got ${value}`);
  }
}

/** Options are checked once, at construction, with BAD_CONFIG naming the culprit. */
export function checkOption(ok: boolean, what: string, value: unknown): void {
  if (!ok) throw new LearnerError('BAD_CONFIG', `${what}, got ${String(value)}`);
}

/** State checks on restore: a corrupt snapshot must fail loudly, not detect nonsense. */
export function checkState(ok: boolean, what: string): void {
  if (!ok) throw new LearnerError('BAD_CONFIG', `invalid drift detector state: ${what}`);
}

export function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

export function isFiniteArray(value: unknown, type: typeof Float64Array, length: number): boolean {
  return value instanceof type && value.length === length && value.every(Number.isFinite);
}

/**
 * What every detector counts, kept in one place: values seen, drifts found, and whether the
 * last value completed a drift. Subclasses update the protected fields in `update`/`reset`.
 */
export abstract class DetectorCounts {
  protected seen = 0;
  protected found = 0;
  protected detected = false;

  get drift(): boolean {
    return this.detected;
  }

  get n(): number {
    return this.seen;
  }

  get detections(): number {
    return this.found;
  }
}
