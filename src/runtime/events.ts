import type { FeatureSpec } from '../backbone/feature_spec.ts';
import type { LearnerErrorCode } from '../errors.ts';
import type { RecoveryCode } from './recoveries.ts';

/** Everything the learner tells the app without being asked. */
export interface LearnerEventMap {
  /** A model version is loaded and serving. */
  version: { versionId: string; spec: FeatureSpec };
  /**
   * The rollout changed what runs here: a version was staged (it now serves), promoted, rolled
   * back (by the server, or on the device by a guardrail), installed as production, or refused
   * (its manifest or bytes failed verification: the device stays on what it runs).
   *
   * `stale_manifest` (versionId 'manifest'): the manifest the device holds has expired and no
   * newer one could be had (the server is unreachable, or something between answers 304 or
   * replays old manifests): the device keeps serving what it runs, but it may be frozen on
   * versions the server has since rolled back. Sent once per held manifest; `reason` says which
   * revision expired when.
   */
  rollout: {
    action: 'staged' | 'promoted' | 'rolled_back' | 'installed' | 'refused' | 'stale_manifest';
    versionId: string;
    reason?: string;
    /**
     * Staged or installed: milliseconds from "bytes verified" to "serving" (session created and
     * warmed, state stored, switched).
     */
    swapMs?: number;
  };
  /**
   * The drift policy saw a change (src/drift/policy.ts) in the serving version's error
   * (`concept`), scores (`prediction`) or inputs (`feature`), at outcome `seq`; the learning
   * rate is now `multiplier` × the configured one.
   */
  drift: {
    versionId: string;
    seq: number;
    kind: 'concept' | 'prediction' | 'feature';
    detector: string;
    severity: number;
    multiplier: number;
  };
  /**
   * The forgetting guard reset the head to the version's server head: over the last `n`
   * outcomes the head's mean loss was `difference` worse than the server head's.
   */
  reset: {
    versionId: string;
    seq: number;
    n: number;
    deviceMean: number;
    baselineMean: number;
    difference: number;
  };
  /** Something went wrong inside the worker that the app did not directly call for. */
  error: { code: LearnerErrorCode; message: string };
  /**
   * The learner found its stored state missing or unusable and carried on (src/runtime/
   * recoveries.ts): a new install where the state vanished, memory where IndexedDB refused,
   * a new registration where the server forgot the install. Also kept in `stats().recovered`.
   */
  recovery: { code: RecoveryCode; message: string; cause?: string };
}

export type LearnerEvent = {
  [K in keyof LearnerEventMap]: { type: K } & LearnerEventMap[K];
}[keyof LearnerEventMap];
