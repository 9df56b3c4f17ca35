/**
 * The drift policy's snapshot (plain JSON, inside the learner's snapshots) and its checks on the
 * way back: a state is trusted only once every number in it is in range and agrees with the
 * options it carries, so a corrupt or hand-edited snapshot is a BAD_CONFIG at restore, never a
 * policy that misbehaves later. `DriftPolicy.restore` (policy.ts) puts the checked pieces back.
 */
import { LearnerError } from '../errors.ts';
import { type AnyDetector, restoreDetector } from './factory.ts';
import { fromJsonState, type JsonValue } from './json_state.ts';
import type { ResolvedDriftPolicyOptions } from './policy_options.ts';
import { Psi, type PsiState } from './psi.ts';

/** The policy's snapshot: plain JSON (`JSON.stringify` and back restores it exactly). */
export interface DriftPolicyState {
  kind: 'drift-policy';
  options: ResolvedDriftPolicyOptions;
  n: number;
  /** multiplier − 1. */
  excess: number;
  /**
   * The error's moving averages, before bias correction, and the weight each has gathered
   * (1 − (1 − rate)^n): mean = average / weight, as in Adam's bias correction.
   */
  fast: number;
  slow: number;
  fastWeight: number;
  slowWeight: number;
  loss: JsonValue | null;
  /** Either the reference being collected, or the running detector. */
  prediction: { reference: number[] } | { detector: JsonValue } | null;
  /** Either the reference rows being collected (row-major), or one PSI per feature. */
  features: { reference: number[] } | { detectors: JsonValue[] } | null;
  /** Alarms per detector key since the last `takeStats`. */
  counts: Record<string, number>;
}

/** The detector of the prediction watch: a PSI against a reference, or a stream detector. */
export type ScoreDetector = Psi | AnyDetector;

/** A state's watches, checked and rebuilt: detectors, or the reference windows being collected. */
export interface RestoredWatches {
  loss: AnyDetector | null;
  prediction: { reference: number[] } | { detector: ScoreDetector } | null;
  /** `rows` of `dim` values each, row-major. */
  features: { reference: number[]; rows: number } | { detectors: Psi[] } | null;
}

/**
 * Checks `state` against the options it was resolved to (`options`) and the detector keys the
 * policy counts alarms for (`countKeys`), and rebuilds its watches; BAD_CONFIG on the first
 * thing that is corrupt or inconsistent.
 */
export function checkPolicyState(
  state: DriftPolicyState,
  o: ResolvedDriftPolicyOptions,
  countKeys: readonly string[],
): RestoredWatches {
  const bad = policyStateError;
  if (!Number.isSafeInteger(state.n) || state.n < 0) bad('n');
  for (const v of [state.excess, state.fast, state.slow]) if (!Number.isFinite(v)) bad('averages');
  for (const w of [state.fastWeight, state.slowWeight]) {
    if (!(w >= 0 && w <= 1) || state.n > 0 !== w > 0) bad('average weights');
  }
  if (state.excess < 0 || state.excess > o.maxMultiplier - 1) bad('excess');
  const restored: RestoredWatches = { loss: null, prediction: null, features: null };
  if (o.loss) {
    if (state.loss === null) bad('the loss detector is missing');
    const detector = restoreDetector(fromJsonState(state.loss));
    if (detector.kind !== o.loss.detector) bad('the loss detector is of another kind');
    restored.loss = detector;
  }
  if (o.prediction) {
    const p = state.prediction;
    if (p === null) return bad('the prediction watch is missing');
    if ('reference' in p) {
      if (o.prediction.method !== 'psi') bad('a reference for a kswin watch');
      if (!Array.isArray(p.reference) || p.reference.length >= o.prediction.referenceSize)
        bad('prediction reference');
      if (!p.reference.every(Number.isFinite)) bad('prediction reference');
      restored.prediction = { reference: p.reference };
    } else {
      const detector: ScoreDetector =
        o.prediction.method === 'psi'
          ? Psi.restore(fromJsonState<PsiState>(p.detector))
          : restoreDetector(fromJsonState(p.detector));
      if (detector.kind !== o.prediction.method) bad('the prediction detector');
      restored.prediction = { detector };
    }
  }
  if (o.features) {
    const f = state.features;
    if (f === null) return bad('the feature watch is missing');
    if ('reference' in f) {
      if (o.features.reference) bad('a reference window beside a given reference');
      const rows = f.reference.length / o.features.dim;
      if (!Number.isInteger(rows) || rows >= o.features.referenceSize) bad('feature reference');
      if (!f.reference.every(Number.isFinite)) bad('feature reference');
      restored.features = { reference: f.reference, rows };
    } else {
      if (!Array.isArray(f.detectors) || f.detectors.length !== o.features.dim)
        bad('one detector per feature');
      restored.features = {
        detectors: f.detectors.map((d) => Psi.restore(fromJsonState<PsiState>(d))),
      };
    }
  }
  if (typeof state.counts !== 'object' || state.counts === null) bad('counts');
  for (const [key, count] of Object.entries(state.counts)) {
    if (!countKeys.includes(key) || !Number.isSafeInteger(count) || count < 0) bad('counts');
  }
  return restored;
}

/** BAD_CONFIG for a state that cannot be restored. */
export function policyStateError(why: string): never {
  throw new LearnerError('BAD_CONFIG', `invalid drift policy state: ${why}`);
}
