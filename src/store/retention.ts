import type { IDBPTransaction } from 'idb';
import type { StoreContext } from './context.ts';
import { isLive, isRetired } from './lifecycle.ts';
import { addUsage } from './meta.ts';
import type { LocalfitDB, VersionRecord } from './schema.ts';
import { deleteSnapshotsOf } from './snapshots.ts';
import { inTransaction } from './tx.ts';
import { newestFirst } from './versions.ts';

export interface RetentionResult {
  /** Versions removed, with their snapshots. */
  removedVersions: string[];
  /** Model bytes removed because no remaining version uses them. */
  removedModels: string[];
  removedSnapshots: number;
}

type RetentionTx = IDBPTransaction<
  LocalfitDB,
  ('versions' | 'models' | 'snapshots' | 'meta')[],
  'readwrite'
>;

const STORES: ('versions' | 'models' | 'snapshots' | 'meta')[] = [
  'versions',
  'models',
  'snapshots',
  'meta',
];

/**
 * Keeps what instant rollback needs and drops the rest, in one transaction: production, every
 * staging (and draft) version, and the `keepArchived` most recently retired versions
 * (`rolled_back` counts as archived). Removed versions lose their snapshots; model bytes that no
 * remaining version uses are deleted. Production and its bytes are never removed.
 */
export async function applyRetention(
  ctx: StoreContext,
  options: { keepArchived?: number } = {},
): Promise<RetentionResult> {
  const keepArchived = Math.max(0, options.keepArchived ?? ctx.limits.keepArchived);
  return inTransaction(ctx.db, STORES, 'readwrite', async (tx) => {
    const versions = await tx.objectStore('versions').getAll();
    const retired = versions.filter((v) => isRetired(v.status)).sort(newestFirst);
    const doomed = retired.slice(keepArchived);
    return removeVersions(tx, versions, doomed);
  });
}

/**
 * Removes the oldest retired version (for quota eviction); undefined when there is none left.
 */
export async function removeOldestRetired(ctx: StoreContext): Promise<RetentionResult | undefined> {
  return inTransaction(ctx.db, STORES, 'readwrite', async (tx) => {
    const versions = await tx.objectStore('versions').getAll();
    const oldest = versions
      .filter((v) => isRetired(v.status))
      .sort(newestFirst)
      .at(-1);
    return oldest ? removeVersions(tx, versions, [oldest]) : undefined;
  });
}

async function removeVersions(
  tx: RetentionTx,
  all: VersionRecord[],
  doomed: VersionRecord[],
): Promise<RetentionResult> {
  const removed = new Set(doomed.filter((v) => !isLive(v.status)).map((v) => v.id));
  const meta = tx.objectStore('meta');
  let removedSnapshots = 0;
  for (const id of removed) {
    removedSnapshots += await deleteSnapshotsOf(tx.objectStore('snapshots'), meta, id);
    await tx.objectStore('versions').delete(id);
  }
  // Bytes still referenced by any remaining version stay — production's and staging's above all.
  const used = new Set(all.filter((v) => !removed.has(v.id)).map((v) => v.modelSha256));
  const removedModels: string[] = [];
  let cursor = await tx.objectStore('models').openCursor();
  while (cursor) {
    if (!used.has(cursor.key)) {
      removedModels.push(cursor.key);
      await addUsage(meta, 'models', -1, -(cursor.value.size ?? 0));
      await cursor.delete();
    }
    cursor = await cursor.continue();
  }
  return { removedVersions: [...removed], removedModels, removedSnapshots };
}
