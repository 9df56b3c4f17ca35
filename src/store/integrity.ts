import { sha256Hex } from '../sha256.ts';
import type { StoreContext } from './context.ts';
import type { VersionStatus } from './schema.ts';
import { verifySnapshot } from './snapshots.ts';

export type IntegrityProblem =
  /** A version whose model bytes are not stored: it cannot be served until they are fetched. */
  | { kind: 'missing_model'; versionId: string; status: VersionStatus; sha256: string }
  /** Stored model bytes that no longer hash to their key (only with `verifyModels`). */
  | { kind: 'corrupt_model'; sha256: string }
  /** A snapshot that fails its checksum; `latestValid` skips it. */
  | { kind: 'corrupt_snapshot'; versionId: string; snapshotId: number }
  /** A snapshot of a version the store does not know. */
  | { kind: 'orphan_snapshot'; versionId: string; snapshotId: number }
  /** More than one production version (only a damaged database can have this). */
  | { kind: 'multiple_production'; versionIds: string[] }
  /** A record that could not be read or checked at all. */
  | { kind: 'unreadable'; store: string; error: string };

/**
 * Looks for everything that would stop the learner from starting cleanly and says what it found
 * instead of throwing: the runtime reports the problems and falls back (previous snapshot,
 * previous version, or the initial head) while it keeps serving. Read-only.
 */
export async function checkIntegrity(
  ctx: StoreContext,
  options: { verifyModels?: boolean } = {},
): Promise<IntegrityProblem[]> {
  const problems: IntegrityProblem[] = [];
  const attempt = async (store: string, check: () => Promise<void>) => {
    try {
      await check();
    } catch (error) {
      problems.push({ kind: 'unreadable', store, error: String(error) });
    }
  };

  let versionIds = new Set<string>();
  await attempt('versions', async () => {
    const versions = await ctx.db.getAll('versions');
    versionIds = new Set(versions.map((v) => v.id));
    const models = new Set(await ctx.db.getAllKeys('models'));
    for (const version of versions) {
      if (!models.has(version.modelSha256)) {
        problems.push({
          kind: 'missing_model',
          versionId: version.id,
          status: version.status,
          sha256: version.modelSha256,
        });
      }
    }
    const production = versions.filter((v) => v.status === 'production').map((v) => v.id);
    if (production.length > 1)
      problems.push({ kind: 'multiple_production', versionIds: production });
  });

  await attempt('snapshots', async () => {
    let cursor = await ctx.db.transaction('snapshots').store.openCursor();
    while (cursor) {
      const record = cursor.value;
      if (!verifySnapshot(record)) {
        problems.push({
          kind: 'corrupt_snapshot',
          versionId: record.versionId,
          snapshotId: cursor.key,
        });
      } else if (!versionIds.has(record.versionId)) {
        problems.push({
          kind: 'orphan_snapshot',
          versionId: record.versionId,
          snapshotId: cursor.key,
        });
      }
      cursor = await cursor.continue();
    }
  });

  if (options.verifyModels) {
    await attempt('models', async () => {
      for (const sha256 of await ctx.db.getAllKeys('models')) {
        // One model at a time: hashing is async, so it cannot run inside a cursor's transaction.
        const record = await ctx.db.get('models', sha256);
        const actual = await sha256Hex(record?.data ?? new ArrayBuffer(0)).catch(() => undefined);
        if (actual !== sha256) problems.push({ kind: 'corrupt_model', sha256 });
      }
    });
  }
  return problems;
}
