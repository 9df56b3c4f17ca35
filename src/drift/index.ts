/**
 * Drift detection on the device: change detectors for a stream of numbers (the prequential
 * loss, predicted scores) and the population stability index for a feature or score against
 * the training reference. One concept per file:
 *
 * - {@link Adwin}: adaptive windowing (Bifet & Gavaldà, 2007).
 * - {@link PageHinkley}: the Page-Hinkley test (Page, 1954).
 * - {@link Kswin}: Kolmogorov–Smirnov windowing (Raab, Heusinger & Schleif, 2020).
 * - {@link Psi}: the population stability index over bins.
 * - {@link createDetector} / {@link restoreDetector}: by name, and from a saved state.
 * - {@link DriftPolicy}: what the device watches (loss, scores, features), the events and
 *   counts it reports, and the learning-rate multiplier it derives (`policy.ts`).
 * - {@link ForgettingGuard}: resets the head to the server's when it has become worse.
 * - {@link toJsonState} / {@link fromJsonState}: detector states as plain JSON.
 * - `evaluate.ts` (not re-exported: it builds heads): the policy on vs off, prequentially.
 *
 * ```ts
 * import { createDetector, Psi, restoreDetector } from './index.ts';
 * const loss = createDetector('adwin');
 * const scores = Psi.fromNormal(0.3, 0.1, { bins: 10 });
 * loss.update(1); // 0/1 error of the last prediction: true when the error rate changed
 * scores.update(0.42); // true when the scores' distribution left the reference's
 * const saved = loss.exportState(); // structured-clone friendly, for IndexedDB
 * const again = restoreDetector(saved);
 * ```
 */
export { Adwin, type AdwinOptions, type AdwinState } from './adwin.ts';
export type { DetectorKind, DetectorState, DriftDetector } from './detector.ts';
export {
  type AnyDetector,
  type AnyDetectorState,
  createDetector,
  DETECTOR_KINDS,
  type DetectorOptions,
  restoreDetector,
} from './factory.ts';
export {
  ForgettingGuard,
  type ForgettingGuardOptions,
  type ForgettingGuardState,
  type ForgettingVerdict,
} from './forgetting_guard.ts';
export { fromJsonState, type JsonValue, toJsonState } from './json_state.ts';
export { Kswin, type KswinOptions, type KswinState, ksDistance } from './kswin.ts';
export {
  type Direction,
  PageHinkley,
  type PageHinkleyOptions,
  type PageHinkleyState,
} from './page_hinkley.ts';
export { DriftPolicy } from './policy.ts';
export {
  DRIFT_POLICY_DEFAULTS,
  type DriftAlarms,
  type DriftEvent,
  type DriftKind,
  type DriftPolicyOptions,
  type FeatureReference,
  type FeatureWatchOptions,
  featureReferenceFromSpec,
  type LossWatchOptions,
  type ResolvedDriftPolicyOptions,
  resolveDriftPolicyOptions,
  type ScoreWatchOptions,
} from './policy_options.ts';
export type { DriftPolicyState } from './policy_state.ts';
export {
  normalQuantile,
  Psi,
  type PsiOptions,
  type PsiSeverity,
  type PsiState,
  psi,
  psiSeverity,
} from './psi.ts';
