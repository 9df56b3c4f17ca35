/**
 * localfit's persistence layer: model versions, model bytes, head snapshots, the outcome log,
 * the metrics outbox and device metadata in IndexedDB (with idb). See open.ts to start.
 */

export { sha256Hex } from '../sha256.ts';
export { checksum } from './checksum.ts';
export type { StoreContext, StoreLimits } from './context.ts';
export { DEFAULT_LIMITS } from './context.ts';
export type { StoreErrorCode } from './errors.ts';
export { isStoreError, StoreError } from './errors.ts';
export type { IntegrityProblem } from './integrity.ts';
export { canTransition, INITIAL_STATUSES, isLive, isRetired, TRANSITIONS } from './lifecycle.ts';
export { MemoryOutcomeLog } from './memory_outcomes.ts';
export { COUNTERS, MetaRepository } from './meta.ts';
export { ModelRepository } from './models.ts';
export type { CloseReason, OpenOptions, StoreStats } from './open.ts';
export { deleteStore, openStore, Store, storedSchemaVersion } from './open.ts';
export { Outbox } from './outbox.ts';
export type { AppendResult, NewOutcome } from './outcomes.ts';
export { OutcomeLog } from './outcomes.ts';
export type { Eviction } from './quota.ts';
export { evictForSpace, isQuotaError, withQuota } from './quota.ts';
export type { RetentionResult } from './retention.ts';
export type {
  LocalfitDB,
  MetaValues,
  ModelRecord,
  OpaqueMetaKey,
  OutboxRecord,
  OutcomeRecord,
  OutcomeReport,
  SnapshotRecord,
  StatusChange,
  Usage,
  UsageKind,
  VersionRecord,
  VersionStatus,
} from './schema.ts';
export { SCHEMA_VERSION, UPGRADES } from './schema.ts';
export type { LatestValid, NewSnapshot } from './snapshots.ts';
export { SnapshotRepository, verifySnapshot } from './snapshots.ts';
export type { NewVersion, TransitionOptions } from './versions.ts';
export { VersionRepository } from './versions.ts';
