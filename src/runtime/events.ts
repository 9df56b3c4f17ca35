import type { FeatureSpec } from '../backbone/feature_spec.ts';
import type { LearnerErrorCode } from '../errors.ts';

/** Everything the learner tells the app without being asked. */
export interface LearnerEventMap {
  /** A model version is loaded and serving. */
  version: { versionId: string; spec: FeatureSpec };
  /** Something went wrong inside the worker that the app did not directly call for. */
  error: { code: LearnerErrorCode; message: string };
}

export type LearnerEvent = {
  [K in keyof LearnerEventMap]: { type: K } & LearnerEventMap[K];
}[keyof LearnerEventMap];
