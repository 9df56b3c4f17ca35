import type { IDBPObjectStore, StoreNames } from 'idb';
import type { PackedBatch } from '../backbone/features.ts';
import type { Label } from '../learn/types.ts';
import type { StoreContext } from './context.ts';
import { StoreError } from './errors.ts';
import { addUsage, bumpCounters, COUNTERS, readUsage } from './meta.ts';
import type { LocalfitDB, OutcomeRecord, OutcomeReport } from './schema.ts';
import { approxSize } from './size.ts';
import { inTransaction } from './tx.ts';

export interface NewOutcome {
  /** The app's id for this outcome: the same id is stored (and so learned) only once. */
  clientId: string;
  /** The version whose prediction the outcome answers. */
  versionId: string;
  /** The example, packed (usually n = 1); checked for shape only, so validate values first. */
  example: PackedBatch;
  label: Label;
  ts: number;
  report?: OutcomeReport;
}

export interface AppendResult {
  /** The outcome's sequence number (the original one for a duplicate). */
  seq: number;
  /** True when the client id was already stored: nothing was written, do not learn again. */
  duplicate: boolean;
}

/**
 * The append-only outcome log: the source of truth the heads are rebuilt from (a snapshot plus
 * the outcomes after its `seq`). Bounded by a count and a byte cap with oldest-first eviction.
 */
export class OutcomeLog {
  private readonly ctx: StoreContext;
  constructor(ctx: StoreContext) {
    this.ctx = ctx;
  }

  /**
   * Appends an outcome exactly once. Resolves only after the transaction has committed with
   * strict durability, so "append resolved ⇒ the outcome is on disk". A second append with the
   * same `clientId` (even concurrently, even from another tab) writes nothing and returns the
   * original `seq` with `duplicate: true` — whatever its other fields say.
   */
  async append(outcome: NewOutcome): Promise<AppendResult> {
    checkOutcome(outcome);
    // A copy taken now: the write happens a few event-loop turns later (after the duplicate
    // check, or after an eviction), and the caller may reuse or transfer its buffers meanwhile.
    const content = structuredClone({
      clientId: outcome.clientId,
      versionId: outcome.versionId,
      ts: outcome.ts,
      example: { n: outcome.example.n, columns: outcome.example.columns },
      label: outcome.label,
      ...(outcome.report ? { report: outcome.report } : {}),
    });
    const size = approxSize(content);
    try {
      return await this.ctx.guardWrite(size, () => this.appendOnce(content, size));
    } catch (error) {
      // The pre-check below makes this unreachable while transactions serialise as specified;
      // should the unique index still fire, the outcome is stored: report it as a duplicate.
      if ((error as Error)?.name !== 'ConstraintError') throw error;
      const seq = await this.ctx.db.getKeyFromIndex('outcomes', 'by-client-id', outcome.clientId);
      if (seq === undefined) throw error;
      return { seq, duplicate: true };
    }
  }

  private appendOnce(content: Omit<OutcomeRecord, 'seq' | 'size'>, size: number) {
    const { limits } = this.ctx;
    return inTransaction(
      this.ctx.db,
      ['outcomes', 'meta'],
      'readwrite',
      async (tx): Promise<AppendResult> => {
        const outcomes = tx.objectStore('outcomes');
        // Read-then-add inside one readwrite transaction: transactions over the same store run
        // one at a time (across tabs too), so two appends of one id cannot both miss.
        const existing = await outcomes.index('by-client-id').getKey(content.clientId);
        if (existing !== undefined) return { seq: existing, duplicate: true };
        const seq = await outcomes.add({ ...content, size } as OutcomeRecord);

        // Enforce the log's own caps, oldest first, in the same transaction.
        const meta = tx.objectStore('meta');
        const usage = (await readUsage(meta)).outcomes;
        let count = usage.count + 1;
        let bytes = usage.size + size;
        let evicted = 0;
        let evictedSize = 0;
        if (count > limits.maxOutcomes || bytes > limits.maxOutcomeBytes) {
          let cursor = await outcomes.openCursor();
          while (
            cursor &&
            cursor.key !== seq &&
            (count > limits.maxOutcomes || bytes > limits.maxOutcomeBytes)
          ) {
            count -= 1;
            bytes -= cursor.value.size;
            evicted += 1;
            evictedSize += cursor.value.size;
            await cursor.delete();
            cursor = await cursor.continue();
          }
        }
        await addUsage(meta, 'outcomes', 1 - evicted, size - evictedSize, limits.maxBytes);
        await bumpCounters(meta, { [COUNTERS.outcomesEvicted]: evicted });
        return { seq, duplicate: false };
      },
      // 'strict': the transaction completes only once the data is flushed to disk. With the
      // default (Chromium treats it as 'relaxed') `complete` fires once the OS has the write, so a
      // power loss or OS crash could drop an outcome whose observe() had already resolved —
      // breaking invariant 1. One fsync per outcome is the price; see the measured latency.
      'strict',
    );
  }

  /** Up to `limit` outcomes with seq > `seq`, in seq order: the replay after a snapshot. */
  async after(seq: number, limit?: number): Promise<OutcomeRecord[]> {
    return this.ctx.db.getAll('outcomes', IDBKeyRange.lowerBound(seq, true), limit);
  }

  /** The newest `limit` outcomes, in seq order (evaluation, re-training after a version change). */
  async recent(limit: number): Promise<OutcomeRecord[]> {
    const records: OutcomeRecord[] = [];
    if (limit <= 0) return records;
    let cursor = await this.ctx.db.transaction('outcomes').store.openCursor(null, 'prev');
    while (cursor && records.length < limit) {
      records.push(cursor.value);
      cursor = await cursor.continue();
    }
    return records.reverse();
  }

  async get(seq: number): Promise<OutcomeRecord | undefined> {
    return this.ctx.db.get('outcomes', seq);
  }

  async byClientId(clientId: string): Promise<OutcomeRecord | undefined> {
    return this.ctx.db.getFromIndex('outcomes', 'by-client-id', clientId);
  }

  async count(): Promise<number> {
    return this.ctx.db.count('outcomes');
  }

  /** The highest stored seq, or 0 when the log is empty. */
  async lastSeq(): Promise<number> {
    const cursor = await this.ctx.db.transaction('outcomes').store.openKeyCursor(null, 'prev');
    return cursor?.key ?? 0;
  }

  /**
   * Deletes outcomes a snapshot already covers (seq ≤ `coveredSeq`), except the newest
   * `keepRecent`. Everything after `coveredSeq` stays, so replay is never cut short. Pass the
   * store's `snapshots.coveredSeq()`, which is safe for every live version's fallback snapshot.
   * Returns how many outcomes were deleted.
   */
  async compact(
    coveredSeq: number,
    keepRecent = this.ctx.limits.keepRecentOutcomes,
  ): Promise<number> {
    return inTransaction(this.ctx.db, ['outcomes', 'meta'], 'readwrite', async (tx) => {
      const outcomes = tx.objectStore('outcomes');
      let limit = coveredSeq;
      if (keepRecent > 0) {
        // The newest seq outside the recent window; none means the log is within the window.
        const cursor = await outcomes.openKeyCursor(null, 'prev');
        const boundary = cursor ? await cursor.advance(keepRecent) : null;
        if (!boundary) return 0;
        limit = Math.min(limit, boundary.key);
      }
      if (limit < 1) return 0;
      const { count, size } = await deleteOldest(outcomes, limit, Number.POSITIVE_INFINITY);
      await addUsage(tx.objectStore('meta'), 'outcomes', -count, -size);
      await bumpCounters(tx.objectStore('meta'), { [COUNTERS.outcomesCompacted]: count });
      return count;
    });
  }
}

/**
 * Deletes covered outcomes (seq ≤ `coveredSeq`), oldest first, until about `bytes` are freed:
 * the first thing to go when the store runs out of room (see quota.ts).
 */
export async function evictCoveredOutcomes(
  ctx: StoreContext,
  coveredSeq: number,
  bytes: number,
): Promise<{ count: number; size: number }> {
  if (coveredSeq < 1) return { count: 0, size: 0 };
  return inTransaction(ctx.db, ['outcomes', 'meta'], 'readwrite', async (tx) => {
    const freed = await deleteOldest(tx.objectStore('outcomes'), coveredSeq, bytes);
    await addUsage(tx.objectStore('meta'), 'outcomes', -freed.count, -freed.size);
    await bumpCounters(tx.objectStore('meta'), { [COUNTERS.quotaOutcomesEvicted]: freed.count });
    return freed;
  });
}

async function deleteOldest<S extends ArrayLike<StoreNames<LocalfitDB>>>(
  outcomes: IDBPObjectStore<LocalfitDB, S, 'outcomes', 'readwrite'>,
  upTo: number,
  bytes: number,
): Promise<{ count: number; size: number }> {
  let count = 0;
  let size = 0;
  let cursor = await outcomes.openCursor(IDBKeyRange.upperBound(upTo));
  while (cursor && size < bytes) {
    count += 1;
    size += cursor.value.size ?? 0;
    await cursor.delete();
    cursor = await cursor.continue();
  }
  return { count, size };
}

function checkOutcome(outcome: NewOutcome): void {
  const bad = (why: string): never => {
    throw new StoreError('BAD_RECORD', `outcome ${String(outcome?.clientId)}: ${why}`);
  };
  if (typeof outcome?.clientId !== 'string' || outcome.clientId === '') {
    bad('clientId must be a non-empty string');
  }
  if (typeof outcome.versionId !== 'string' || outcome.versionId === '') {
    bad('versionId must be a non-empty string');
  }
  if (typeof outcome.ts !== 'number' || !Number.isFinite(outcome.ts)) bad('ts must be finite');
  const label = outcome.label;
  const labelOk =
    typeof label === 'string' ||
    typeof label === 'boolean' ||
    (typeof label === 'number' && Number.isFinite(label));
  if (!labelOk) bad('label must be a finite number, a string or a boolean');
  const example = outcome.example;
  if (!Number.isInteger(example?.n) || example.n <= 0) bad('example.n must be a positive integer');
  const columns = Object.values(example.columns ?? {});
  if (columns.length === 0) bad('example has no columns');
  if (
    !columns.every((column) => column instanceof Float32Array || column instanceof Float64Array)
  ) {
    bad('example columns must be Float32Arrays or Float64Arrays');
  }
}
