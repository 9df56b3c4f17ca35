import type { StoreContext } from './context.ts';
import { isStoreError, StoreError } from './errors.ts';
import { bumpCounters, COUNTERS, loadUsage, totalSize } from './meta.ts';
import { evictCoveredOutcomes } from './outcomes.ts';
import { removeOldestRetired } from './retention.ts';
import { coveredSeq } from './snapshots.ts';
import { inTransaction } from './tx.ts';

/** A write refused for lack of room: the browser's quota, or the store's own byte cap. */
export function isQuotaError(error: unknown): boolean {
  const name = (error as { name?: string } | null)?.name;
  return name === 'QuotaExceededError' || isStoreError(error, 'QUOTA');
}

/**
 * Whether a refused write was refused for lack of room. Besides QuotaExceededError: Firefox
 * (ESR 153) refuses writes in an origin that has reached its limit with InvalidStateError ("A
 * mutation operation was attempted on a database that did not allow mutations"), as it does on
 * a full disk; such a refusal counts as no room when the origin's usage has reached its quota.
 */
export async function isOutOfRoom(error: unknown): Promise<boolean> {
  if (isQuotaError(error)) return true;
  const name = (error as { name?: string } | null)?.name;
  if (name !== 'InvalidStateError' && name !== 'UnknownError') return false;
  const estimate = await globalThis.navigator?.storage?.estimate().catch(() => undefined);
  const usage = estimate?.usage;
  const quota = estimate?.quota;
  return usage !== undefined && quota !== undefined && quota > 0 && usage >= 0.98 * quota;
}

export interface Eviction {
  /** Approximate bytes freed. */
  freed: number;
  outcomes: number;
  versions: string[];
}

/**
 * Runs `write`; if it fails for lack of room, evicts the oldest evaluable data (see
 * `evictForSpace`) and retries once. A second failure is StoreError('QUOTA'). Writes must be
 * safe to retry — they are: each runs in one transaction that either committed or changed
 * nothing, and outcome appends are idempotent by client id.
 */
export async function withQuota<T>(
  ctx: StoreContext,
  bytes: number,
  write: () => Promise<T>,
): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (!(await isOutOfRoom(error))) throw error;
  }
  try {
    await evictForSpace(ctx, bytes);
  } catch (error) {
    // A disk so full that even eviction's bookkeeping is refused: retry what was freed anyway.
    if (!(await isOutOfRoom(error))) throw error;
  }
  try {
    return await write();
  } catch (error) {
    if (!(await isOutOfRoom(error))) throw error;
    if (isStoreError(error)) throw error;
    throw new StoreError('QUOTA', 'no room for the write, even after eviction', { cause: error });
  }
}

/**
 * Frees at least `bytes` (or what the store's own cap requires), oldest evaluable data first:
 * 1. outcomes already covered by every live version's kept snapshots, oldest first;
 * 2. then retired (archived / rolled-back) versions, oldest first, with their snapshots and any
 *    model bytes no remaining version uses.
 * Production and staging versions, their bytes and snapshots, and uncovered outcomes are never
 * evicted here (the outcome log's own cap handles the log).
 */
export async function evictForSpace(ctx: StoreContext, bytes: number): Promise<Eviction> {
  const total = totalSize(await loadUsage(ctx.db));
  const need = Math.max(bytes, total + bytes - ctx.limits.maxBytes, 1);
  const eviction: Eviction = { freed: 0, outcomes: 0, versions: [] };

  const covered = await coveredSeq(ctx);
  const outcomes = await evictCoveredOutcomes(ctx, covered, need);
  eviction.freed += outcomes.size;
  eviction.outcomes = outcomes.count;

  while (eviction.freed < need) {
    const before = totalSize(await loadUsage(ctx.db));
    const removed = await removeOldestRetired(ctx);
    if (!removed) break;
    eviction.freed += Math.max(0, before - totalSize(await loadUsage(ctx.db)));
    eviction.versions.push(...removed.removedVersions);
  }

  await inTransaction(ctx.db, ['meta'], 'readwrite', (tx) =>
    bumpCounters(tx.objectStore('meta'), {
      [COUNTERS.quotaEvictions]: 1,
      [COUNTERS.quotaVersionsEvicted]: eviction.versions.length,
    }),
  );
  return eviction;
}
