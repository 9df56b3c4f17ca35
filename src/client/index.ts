export type {
  FeatureInput,
  FeatureSpec,
  FeatureSpecInit,
  InputDtype,
} from '../backbone/feature_spec.ts';
export type { Example } from '../backbone/features.ts';
export type { SyncOptions } from '../delivery/options.ts';
export type { LearnerErrorCode } from '../errors.ts';
export { isLearnerError, LearnerError } from '../errors.ts';
export type { HeadConfig, Label, OptimizerConfig, Schedule, Task } from '../learn/types.ts';
export type { SyncStats } from '../reporting/sync_stats.ts';
export type { GuardrailOptions } from '../rollout/guardrails.ts';
export type { RolloutOptions } from '../rollout/options.ts';
export type { RolloutStats } from '../rollout/rollout.ts';
export type { LearnerEvent, LearnerEventMap } from '../runtime/events.ts';
export type {
  ModelSource,
  ObserveOptions,
  ObserveResult,
  PersistenceOptions,
  PredictOptions,
} from '../runtime/options.ts';
export type { HeadOptions } from '../runtime/pipeline.ts';
export type { LearnerStats, PersistenceStats, VersionsStats } from '../runtime/stats.ts';
export type { WorkerStats } from '../runtime/worker_api.ts';
export type { Learner, LearnerOptions, Prediction, Predictions } from './learner.ts';
export { createLearner } from './learner.ts';
