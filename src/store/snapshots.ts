import type { IDBPObjectStore, StoreNames } from 'idb';
import type { HeadState } from '../learn/types.ts';
import { checksum } from './checksum.ts';
import type { StoreContext } from './context.ts';
import { StoreError } from './errors.ts';
import { isLive } from './lifecycle.ts';
import { addUsage, bumpCounters, COUNTERS } from './meta.ts';
import type { LocalfitDB, SnapshotRecord } from './schema.ts';
import { approxSize } from './size.ts';
import { inTransaction } from './tx.ts';

export interface NewSnapshot {
  versionId: string;
  /** Sequence number of the last outcome the head has learned from (0: none yet). */
  seq: number;
  head: HeadState;
  /** The online scaler's state, if any; any structured-clone value. */
  scaler?: unknown;
  createdAt?: number;
}

export interface LatestValid {
  /** The newest snapshot of the version whose checksum verifies, if any. */
  snapshot: SnapshotRecord | undefined;
  /** How many newer snapshots of the version failed their checksum (report them). */
  corrupt: number;
}

/** The checksummed part of a snapshot: everything but its id, checksum and size. */
function content(record: Omit<SnapshotRecord, 'id' | 'checksum' | 'size'>) {
  return {
    versionId: record.versionId,
    seq: record.seq,
    createdAt: record.createdAt,
    head: record.head,
    scaler: record.scaler,
  };
}

/** Whether a stored snapshot's content still matches its checksum. Never throws. */
export function verifySnapshot(record: SnapshotRecord): boolean {
  try {
    return typeof record.checksum === 'string' && checksum(content(record)) === record.checksum;
  } catch {
    return false;
  }
}

/**
 * Head snapshots per version. Each one is checksummed; the newest `snapshotsPerVersion` valid
 * ones are kept, so a snapshot that goes bad on disk falls back to the one before it (and the
 * outcome log keeps everything after that one; see `coveredSeq`).
 */
export class SnapshotRepository {
  private readonly ctx: StoreContext;
  constructor(ctx: StoreContext) {
    this.ctx = ctx;
  }

  /**
   * Writes a snapshot with its checksum, then prunes the version's older ones, in one strictly
   * durable transaction: compaction trusts snapshots, so a snapshot must not be lost after the
   * outcomes it covers were deleted.
   */
  async write(input: NewSnapshot): Promise<SnapshotRecord> {
    checkSnapshot(input);
    // A copy taken now, so the checksum and the stored record describe the same state even if
    // the head keeps learning before the write happens (e.g. on a retry after eviction).
    const body = structuredClone(
      content({ ...input, createdAt: input.createdAt ?? this.ctx.now() }),
    );
    const record = { ...body, checksum: checksum(body), size: approxSize(body) };
    return this.ctx.guardWrite(record.size, () =>
      inTransaction(
        this.ctx.db,
        ['snapshots', 'meta'],
        'readwrite',
        async (tx) => {
          const id = await tx.objectStore('snapshots').add(record as SnapshotRecord);
          await addUsage(
            tx.objectStore('meta'),
            'snapshots',
            1,
            record.size,
            this.ctx.limits.maxBytes,
          );
          await pruneVersion(
            tx.objectStore('snapshots'),
            tx.objectStore('meta'),
            input.versionId,
            this.ctx.limits.snapshotsPerVersion,
          );
          return { ...record, id };
        },
        'strict',
      ),
    );
  }

  /** The newest snapshot that verifies, and how many newer ones did not. */
  async latestValid(versionId: string): Promise<LatestValid> {
    let corrupt = 0;
    for (const record of await this.list(versionId)) {
      if (verifySnapshot(record)) return { snapshot: record, corrupt };
      corrupt += 1;
    }
    return { snapshot: undefined, corrupt };
  }

  /** A version's snapshots, newest first, unverified. */
  async list(versionId: string): Promise<SnapshotRecord[]> {
    const records = await this.ctx.db.getAllFromIndex('snapshots', 'by-version', versionId);
    return records.sort((a, b) => b.id - a.id);
  }

  /**
   * Keeps the newest `keep` valid snapshots of a version and deletes the rest (corrupt ones are
   * counted in `snapshotsCorruptDropped`). Returns how many were deleted.
   */
  async prune(versionId: string, keep = this.ctx.limits.snapshotsPerVersion): Promise<number> {
    return inTransaction(this.ctx.db, ['snapshots', 'meta'], 'readwrite', (tx) =>
      pruneVersion(tx.objectStore('snapshots'), tx.objectStore('meta'), versionId, keep),
    );
  }

  /**
   * The highest seq such that every outcome ≤ it is covered for every live (production or
   * staging) version, by every snapshot it may fall back to: the minimum seq over the kept
   * valid snapshots of each live version. 0 (nothing covered) if a live version has none.
   * Outcomes ≤ this seq can be compacted without ever cutting a replay short.
   */
  async coveredSeq(): Promise<number> {
    return coveredSeq(this.ctx);
  }
}

export async function coveredSeq(ctx: StoreContext): Promise<number> {
  const tx = ctx.db.transaction(['versions', 'snapshots']);
  const live = (await tx.objectStore('versions').getAll()).filter((v) => isLive(v.status));
  if (live.length === 0) return 0;
  let covered = Number.POSITIVE_INFINITY;
  for (const version of live) {
    const records = await tx.objectStore('snapshots').index('by-version').getAll(version.id);
    const kept = records
      .sort((a, b) => b.id - a.id)
      .filter(verifySnapshot)
      .slice(0, ctx.limits.snapshotsPerVersion);
    if (kept.length === 0) return 0;
    covered = Math.min(covered, ...kept.map((record) => record.seq));
  }
  return covered;
}

/** Deletes every snapshot of a version inside the caller's transaction; returns the count. */
export async function deleteSnapshotsOf<S extends ArrayLike<StoreNames<LocalfitDB>>>(
  snapshots: IDBPObjectStore<LocalfitDB, S, 'snapshots', 'readwrite'>,
  meta: IDBPObjectStore<LocalfitDB, S, 'meta', 'readwrite'>,
  versionId: string,
): Promise<number> {
  let count = 0;
  let size = 0;
  let cursor = await snapshots.index('by-version').openCursor(versionId);
  while (cursor) {
    count += 1;
    size += cursor.value.size ?? 0;
    await cursor.delete();
    cursor = await cursor.continue();
  }
  await addUsage(meta, 'snapshots', -count, -size);
  return count;
}

async function pruneVersion<S extends ArrayLike<StoreNames<LocalfitDB>>>(
  snapshots: IDBPObjectStore<LocalfitDB, S, 'snapshots', 'readwrite'>,
  meta: IDBPObjectStore<LocalfitDB, S, 'meta', 'readwrite'>,
  versionId: string,
  keep: number,
): Promise<number> {
  let kept = 0;
  let deleted = 0;
  let corrupt = 0;
  let size = 0;
  // Newest first: within one index key, records come in primary-key (write) order.
  let cursor = await snapshots.index('by-version').openCursor(versionId, 'prev');
  while (cursor) {
    const valid = verifySnapshot(cursor.value);
    if (valid && kept < keep) {
      kept += 1;
    } else {
      if (!valid) corrupt += 1;
      deleted += 1;
      size += cursor.value.size ?? 0;
      await cursor.delete();
    }
    cursor = await cursor.continue();
  }
  if (deleted > 0) {
    await addUsage(meta, 'snapshots', -deleted, -size);
    await bumpCounters(meta, { [COUNTERS.snapshotsCorruptDropped]: corrupt });
  }
  return deleted;
}

function checkSnapshot(input: NewSnapshot): void {
  const bad = (why: string): never => {
    throw new StoreError('BAD_RECORD', `snapshot of ${String(input?.versionId)}: ${why}`);
  };
  if (typeof input?.versionId !== 'string' || input.versionId === '') bad('versionId is missing');
  if (!Number.isInteger(input.seq) || input.seq < 0) bad('seq must be a whole number ≥ 0');
  const head = input.head;
  if (!(head?.weights instanceof Float64Array) || !(head.intercepts instanceof Float64Array)) {
    bad('head.weights and head.intercepts must be Float64Arrays');
  }
  if (typeof head.config !== 'object' || head.config === null) bad('head.config is missing');
  if (!Object.values(head.slots ?? {}).every((slot) => slot instanceof Float64Array)) {
    bad('head.slots must be Float64Arrays');
  }
}
