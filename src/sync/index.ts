/**
 * Sync, device side: the metrics reporter (windows → outbox → server) and the pieces it is made
 * of. The wire types are in protocol.ts, shared with the reference server.
 */
export { addToSketch, emptySketch, mergeSketches } from '../metrics/auc_sketch.ts';
export type { BackoffPolicy } from './backoff.ts';
export { fullJitterDelay, retryDelay } from './backoff.ts';
export type { Credentials } from './credentials.ts';
export type { DeliveryError, DeliveryStatus } from './delivery.ts';
export type { Reply, RetryReason } from './http.ts';
export { classifyResponse } from './http.ts';
export type { WindowSums } from './metric_window.ts';
export { finishWindow, windowIdOf } from './metric_window.ts';
export type { ResolvedSyncOptions, SyncOptions } from './options.ts';
export { resolveSyncOptions, SYNC_DEFAULTS } from './options.ts';
export type { ReporterDeps, SyncStats } from './reporter.ts';
export { MetricsReporter, outboxKey } from './reporter.ts';
export { parseRetryAfter } from './retry_after.ts';
export type { LearnedOutcome, TaskInfo } from './scored_outcome.ts';
export { measure } from './scored_outcome.ts';
export { WindowSet } from './windows.ts';
