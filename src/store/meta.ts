import type { IDBPDatabase, IDBPObjectStore, StoreNames } from 'idb';
import type { StoreContext } from './context.ts';
import { StoreError } from './errors.ts';
import type { LocalfitDB, MetaValues, OpaqueMetaKey, Usage, UsageKind } from './schema.ts';
import { emptyUsage } from './schema.ts';
import { inTransaction } from './tx.ts';

/** Names of the counters the store itself keeps (apps and the runtime may add their own). */
export const COUNTERS = {
  /** Outcomes evicted because the log hit its count or byte cap (oldest first). */
  outcomesEvicted: 'outcomesEvicted',
  /** Outcomes deleted by `compact` (covered by snapshots, outside the recent window). */
  outcomesCompacted: 'outcomesCompacted',
  /** Outbox batches dropped because the outbox hit its cap (oldest first). */
  outboxDropped: 'outboxDropped',
  /** Times a write hit the quota (browser or own cap) and eviction ran. */
  quotaEvictions: 'quotaEvictions',
  /** Covered outcomes deleted to make room. */
  quotaOutcomesEvicted: 'quotaOutcomesEvicted',
  /** Archived versions removed to make room. */
  quotaVersionsEvicted: 'quotaVersionsEvicted',
  /** Snapshots found corrupt (failed checksum) and deleted by pruning. */
  snapshotsCorruptDropped: 'snapshotsCorruptDropped',
} as const;

type MetaStore<S extends ArrayLike<StoreNames<LocalfitDB>>> = IDBPObjectStore<
  LocalfitDB,
  S,
  'meta',
  'readwrite'
>;

async function getMeta<K extends keyof MetaValues, S extends ArrayLike<StoreNames<LocalfitDB>>>(
  meta: IDBPObjectStore<LocalfitDB, S, 'meta', IDBTransactionMode>,
  key: K,
): Promise<MetaValues[K] | undefined> {
  return (await meta.get(key)) as MetaValues[K] | undefined;
}

/**
 * Adjusts the running usage totals inside the caller's write transaction, so they stay in step
 * with the records. When a write would take the store past `maxBytes` it throws QUOTA, which
 * aborts the transaction; the write guard then evicts and retries (see quota.ts).
 */
export async function addUsage<S extends ArrayLike<StoreNames<LocalfitDB>>>(
  meta: MetaStore<S>,
  kind: UsageKind,
  count: number,
  size: number,
  maxBytes = Number.POSITIVE_INFINITY,
): Promise<void> {
  const usage = await readUsage(meta);
  usage[kind].count = Math.max(0, usage[kind].count + count);
  usage[kind].size = Math.max(0, usage[kind].size + size);
  if (size > 0) {
    const total = totalSize(usage);
    if (total > maxBytes) {
      throw new StoreError(
        'QUOTA',
        `the store would take ~${total} bytes, over its cap of ${maxBytes}`,
        {
          total,
          maxBytes,
        },
      );
    }
  }
  await meta.put(usage, 'usage');
}

export async function readUsage<S extends ArrayLike<StoreNames<LocalfitDB>>>(
  meta: IDBPObjectStore<LocalfitDB, S, 'meta', IDBTransactionMode>,
): Promise<Usage> {
  return (await getMeta(meta, 'usage')) ?? emptyUsage();
}

export async function bumpCounters<S extends ArrayLike<StoreNames<LocalfitDB>>>(
  meta: MetaStore<S>,
  deltas: Readonly<Record<string, number>>,
): Promise<void> {
  const entries = Object.entries(deltas).filter(([, by]) => by !== 0);
  if (entries.length === 0) return;
  const counters = (await getMeta(meta, 'counters')) ?? {};
  for (const [name, by] of entries) counters[name] = (counters[name] ?? 0) + by;
  await meta.put(counters, 'counters');
}

/** The usage totals, read outside any write transaction. */
export async function loadUsage(db: IDBPDatabase<LocalfitDB>): Promise<Usage> {
  return ((await db.get('meta', 'usage')) as Usage | undefined) ?? emptyUsage();
}

export function totalSize(usage: Usage): number {
  return usage.outcomes.size + usage.snapshots.size + usage.models.size + usage.outbox.size;
}

/** Device metadata: install id, counters, rollout buckets, usage totals. */
export class MetaRepository {
  private readonly ctx: StoreContext;
  constructor(ctx: StoreContext) {
    this.ctx = ctx;
  }

  /** The install id, made with crypto.randomUUID when the database was created. */
  async installId(): Promise<string> {
    const id = (await this.ctx.db.get('meta', 'installId')) as string | undefined;
    if (typeof id === 'string') return id;
    // Only a hand-damaged database lacks one; make it once (add fails if a racer made it).
    const fresh = globalThis.crypto.randomUUID();
    try {
      await this.ctx.db.add('meta', fresh, 'installId');
      return fresh;
    } catch {
      return (await this.ctx.db.get('meta', 'installId')) as string;
    }
  }

  async counters(): Promise<Record<string, number>> {
    return ((await this.ctx.db.get('meta', 'counters')) as Record<string, number>) ?? {};
  }

  async counter(name: string): Promise<number> {
    return (await this.counters())[name] ?? 0;
  }

  /** Adds `by` to a named counter, atomically. */
  async bump(name: string, by = 1): Promise<number> {
    return inTransaction(this.ctx.db, ['meta'], 'readwrite', async (tx) => {
      await bumpCounters(tx.objectStore('meta'), { [name]: by });
      return (await getMeta(tx.objectStore('meta'), 'counters'))?.[name] ?? 0;
    });
  }

  async bucket(rolloutId: string): Promise<number | undefined> {
    const buckets = (await this.ctx.db.get('meta', 'buckets')) as
      | Record<string, number>
      | undefined;
    return buckets?.[rolloutId];
  }

  async setBucket(rolloutId: string, bucket: number): Promise<void> {
    if (!(bucket >= 0 && bucket < 1)) {
      throw new StoreError('BAD_RECORD', `a rollout bucket is in [0, 1), got ${bucket}`);
    }
    await inTransaction(this.ctx.db, ['meta'], 'readwrite', async (tx) => {
      const meta = tx.objectStore('meta');
      const buckets = (await getMeta(meta, 'buckets')) ?? {};
      buckets[rolloutId] = bucket;
      await meta.put(buckets, 'buckets');
    });
  }

  /**
   * A value another module keeps here (see `OpaqueMetaKey`), or undefined. Each read and write is
   * its own transaction; the owner decides what its value means.
   */
  async value(key: OpaqueMetaKey): Promise<unknown> {
    return this.ctx.db.get('meta', key);
  }

  /** Replaces (or, with undefined, deletes) such a value; resolves once committed. */
  async setValue(key: OpaqueMetaKey, value: unknown): Promise<void> {
    await inTransaction(this.ctx.db, ['meta'], 'readwrite', async (tx) => {
      if (value === undefined) await tx.objectStore('meta').delete(key);
      else await tx.objectStore('meta').put(value, key);
    });
  }

  /** Approximate record counts and sizes per store. */
  async usage(): Promise<Usage> {
    return loadUsage(this.ctx.db);
  }
}
