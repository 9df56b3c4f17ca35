import type { IDBPDatabase } from 'idb';
import type { LocalfitDB } from './schema.ts';

/** Bounds the store keeps on its own, whatever the browser's quota. */
export interface StoreLimits {
  /** Outcome log cap, in records; the oldest are evicted beyond it (counted). */
  maxOutcomes: number;
  /** Outcome log cap, in approximate bytes. */
  maxOutcomeBytes: number;
  /** Outcomes kept by `compact` even when a snapshot covers them (evaluation, re-training). */
  keepRecentOutcomes: number;
  /** Snapshots kept per version: the newest valid ones, so a corrupt newest falls back. */
  snapshotsPerVersion: number;
  /** Archived (and rolled-back) versions kept for instant rollback. */
  keepArchived: number;
  /** Outbox cap, in batches; the oldest are dropped beyond it (counted). */
  maxOutbox: number;
  /** The whole store's approximate byte cap; writes beyond it evict first (see quota.ts). */
  maxBytes: number;
}

export const DEFAULT_LIMITS: StoreLimits = {
  maxOutcomes: 50_000,
  maxOutcomeBytes: 64 * 1024 * 1024,
  keepRecentOutcomes: 1_000,
  snapshotsPerVersion: 2,
  keepArchived: 3,
  maxOutbox: 500,
  maxBytes: 512 * 1024 * 1024,
};

/**
 * What every repository is given: the open database, the limits, a clock, and the write guard
 * (quota handling), injected by `openStore` so that repositories do not depend on eviction code.
 */
export interface StoreContext {
  /** The open database; throws StoreError('CLOSED') once the connection is gone. */
  readonly db: IDBPDatabase<LocalfitDB>;
  readonly limits: StoreLimits;
  readonly now: () => number;
  /**
   * Runs a write that may add about `bytes` to the store. On a quota failure (the browser's or
   * the store's own cap) it evicts the oldest evaluable data and retries once.
   */
  guardWrite<T>(bytes: number, write: () => Promise<T>): Promise<T>;
}
