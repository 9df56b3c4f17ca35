// Opening, upgrading, rebuilding and refusing databases, in each engine's real IndexedDB.
import type { IDBPDatabase, IDBPTransaction } from 'idb';
import { openDB } from 'idb';
import { afterEach, describe, expect, inject, test } from 'vitest';
import {
  checksum,
  deleteStore,
  isStoreError,
  openStore,
  SCHEMA_VERSION,
  type Store,
  type StoreError,
} from '../../../src/store/index.ts';
import { makeRebuildCopy, REBUILD_SUFFIX } from '../../../src/store/rebuild.ts';
import { runUpgrades, UPGRADES } from '../../../src/store/schema.ts';
import {
  cleanup,
  example,
  head,
  modelBytes,
  open,
  outcome,
  spec,
  track,
  uniqueName,
} from './helpers.ts';

afterEach(cleanup);

/** Creates a database at an old schema version, exactly as that version's code would have. */
async function createAtVersion(name: string, version: number): Promise<IDBPDatabase> {
  return openDB(name, version, {
    upgrade(db, oldVersion, _newVersion, tx) {
      runUpgrades(db, tx, oldVersion, version);
    },
  });
}

/** Records as versions before 3 stored them: no `size` fields, no usage totals. */
async function fillOldData(db: IDBPDatabase, version: number) {
  const model = await modelBytes(1);
  const snapshotBody = {
    versionId: 'v1',
    seq: 2,
    createdAt: 10,
    head: head(1),
    scaler: { mean: new Float64Array([1, 2, 3]) },
  };
  const tx = db.transaction([...db.objectStoreNames], 'readwrite');
  await tx
    .objectStore('models')
    .put({ sha256: model.sha256, data: model.bytes.buffer, storedAt: 1 });
  await tx.objectStore('versions').put({
    id: 'v1',
    semver: '1.0.0',
    modelSha256: model.sha256,
    featureSpec: spec,
    status: 'production',
    weight: 1,
    createdAt: 1,
    updatedAt: 1,
    history: [{ from: null, to: 'production', at: 1 }],
  });
  await tx.objectStore('snapshots').add({ ...snapshotBody, checksum: checksum(snapshotBody) });
  for (let i = 1; i <= 3; i++) {
    const { clientId, versionId, ts, example, label } = outcome(i);
    await tx.objectStore('outcomes').add({ clientId, versionId, ts, example, label });
  }
  await tx.objectStore('meta').put({ outcomesEvicted: 5 }, 'counters');
  if (version >= 2) {
    await tx.objectStore('outbox').add({
      key: 'batch-1',
      body: { windows: [1, 2] },
      attempts: 2,
      nextAttemptAt: 50,
      createdAt: 5,
    });
  }
  await tx.done;
  return { model, installId: (await db.get('meta', 'installId')) as string };
}

describe('schema', () => {
  test('a fresh database gets every store, an install id and zero usage', async () => {
    const store = await open(uniqueName('fresh'));
    expect(store.db.version).toBe(SCHEMA_VERSION);
    expect([...store.db.objectStoreNames].sort()).toEqual(
      ['meta', 'models', 'outbox', 'outcomes', 'snapshots', 'versions'].sort(),
    );
    const id = await store.meta.installId();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect((await store.stats()).totalSize).toBe(0);
  });

  test('the install id is made once and survives reopening', async () => {
    const name = uniqueName('install-id');
    const first = await open(name);
    const id = await first.meta.installId();
    first.close();
    const second = await open(name);
    expect(await second.meta.installId()).toBe(id);
  });

  // Every earlier version, so that no upgrade path goes untested when a version is added.
  const earlier = Array.from({ length: SCHEMA_VERSION - 1 }, (_, i) => i + 1);
  test.each(earlier)(
    'upgrades from version %i to the current one, keeping all data',
    async (from) => {
      const name = uniqueName(`upgrade-from-${from}`);
      const old = await createAtVersion(name, from);
      expect(old.version).toBe(from);
      const { model, installId } = await fillOldData(old, from);
      old.close();

      const store = await open(name);
      expect(store.db.version).toBe(SCHEMA_VERSION);
      expect(await store.meta.installId()).toBe(installId);
      expect(await store.meta.counter('outcomesEvicted')).toBe(5);

      const version = await store.versions.get('v1');
      expect(version?.status).toBe('production');
      expect(new Uint8Array((await store.models.get(model.sha256))!)).toEqual(model.bytes);

      const { snapshot, corrupt } = await store.snapshots.latestValid('v1');
      expect(corrupt).toBe(0);
      expect(snapshot?.seq).toBe(2);
      expect(snapshot?.head.weights).toEqual(head(1).weights);

      const outcomes = await store.outcomes.after(0);
      expect(outcomes.map((o) => o.seq)).toEqual([1, 2, 3]);
      expect(outcomes.map((o) => o.clientId)).toEqual(['outcome-1', 'outcome-2', 'outcome-3']);
      expect(outcomes[1].example.columns.x).toEqual(example(2).columns.x);
      expect(outcomes.every((o) => o.size > 0)).toBe(true);
      // v2's index on outcomes works on records written before it existed.
      expect(await store.db.countFromIndex('outcomes', 'by-version', 'v1')).toBe(3);

      // v3's usage totals were measured from the old records.
      const usage = await store.meta.usage();
      expect(usage.outcomes.count).toBe(3);
      expect(usage.models.count).toBe(1);
      expect(usage.models.size).toBeGreaterThan(model.bytes.length);
      expect(usage.snapshots.count).toBe(1);

      // The outbox: kept from v2, or new and usable from v1.
      if (from >= 2) {
        const [item] = await store.outbox.due(10, 100);
        expect(item).toMatchObject({ key: 'batch-1', attempts: 2, nextAttemptAt: 50 });
        expect(usage.outbox.count).toBe(1);
      } else {
        expect(await store.outbox.count()).toBe(0);
      }
      expect((await store.outbox.enqueue('batch-2', { n: 1 })).duplicate).toBe(false);

      // The outcome log carries on: old ids are still unique, seqs continue.
      expect(await store.outcomes.append(outcome(2))).toEqual({ seq: 2, duplicate: true });
      expect(await store.outcomes.append(outcome(4))).toEqual({ seq: 4, duplicate: false });
    },
  );

  test('a failing upgrade step aborts the whole upgrade: old version, old data', async () => {
    const name = uniqueName('failed-upgrade');
    const old = await createAtVersion(name, 1);
    const { installId } = await fillOldData(old, 1);
    old.close();
    const failing = [
      ...UPGRADES.slice(0, 2),
      async (_db: unknown, tx: IDBPTransaction<unknown, string[], 'versionchange'>) => {
        await tx.objectStore('outcomes').clear(); // damage first, then fail: must be undone
        throw new Error('step 3 broke');
      },
    ];
    const failed = await openDB(name, 3, {
      upgrade(db, oldVersion, newVersion, tx) {
        runUpgrades(db, tx, oldVersion, newVersion ?? 3, failing).catch(() => {});
      },
    }).catch((e: unknown) => e);
    expect((failed as Error).name).toBe('AbortError');

    const after = await openDB(name);
    expect(after.version).toBe(1);
    expect([...after.objectStoreNames]).not.toContain('outbox');
    expect(await after.count('outcomes')).toBe(3);
    expect(await after.get('meta', 'installId')).toBe(installId);
    after.close();
    // The real code then upgrades it, keeping every record. Chromium and Firefox roll the
    // aborted upgrade back entirely; WebKit keeps the aborted upgrade's new stores in its
    // backing store and refuses every later upgrade (ConstraintError), so the store rebuilds
    // the database (src/store/rebuild.ts) and says so.
    const store = await open(name);
    expect(await store.outcomes.count()).toBe(3);
    expect(await store.meta.installId()).toBe(installId);
    if (inject('engine') === 'webkit') {
      expect(store.recoveries).toEqual([expect.stringMatching(/rebuilt \(\d+ records kept\)/)]);
    } else {
      expect(store.recoveries).toEqual([]);
    }
  });

  test('a rebuild interrupted after its copy was complete is finished from the copy', async () => {
    const name = uniqueName('rebuild-interrupted');
    const first = await open(name);
    await first.outcomes.append(outcome(1));
    await first.outcomes.append(outcome(2));
    const installId = await first.meta.installId();
    first.close();
    // What rebuildDatabase does up to its delete: a complete copy, then the database gone.
    const copy = track(name + REBUILD_SUFFIX);
    await makeRebuildCopy(name);
    await deleteStore(name);

    const store = await open(name);
    expect(await store.outcomes.count()).toBe(2);
    expect(await store.meta.installId()).toBe(installId);
    expect(store.recoveries).toEqual([expect.stringContaining('interrupted rebuild')]);
    expect((await indexedDB.databases()).map((d) => d.name)).not.toContain(copy);
  });

  test('a rebuild interrupted while copying leaves the database as it was', async () => {
    const name = uniqueName('rebuild-half-copied');
    const first = await open(name);
    await first.outcomes.append(outcome(1));
    first.close();
    // The copy exists, with the schema, but its records and completeness mark never came.
    const copy = track(name + REBUILD_SUFFIX);
    (await createAtVersion(copy, SCHEMA_VERSION)).close();

    const store = await open(name);
    expect(await store.outcomes.count()).toBe(1);
    expect(store.recoveries).toEqual([]);
    expect((await indexedDB.databases()).map((d) => d.name)).not.toContain(copy);
  });

  test('reopening at the current version runs no step again', async () => {
    const name = uniqueName('no-rerun');
    const first = await open(name);
    await first.outcomes.append(outcome(1));
    const usage = await first.meta.usage();
    first.close();
    const second = await open(name);
    expect(await second.meta.usage()).toEqual(usage);
  });

  test('a database from newer code is reported and left untouched', async () => {
    const name = uniqueName('too-new');
    const future = await openDB(name, SCHEMA_VERSION + 1, {
      upgrade(db) {
        db.createObjectStore('future');
      },
    });
    await future.put('future', { keep: 'me' }, 'k');
    future.close();

    const error = await openStore(name).catch((e: unknown) => e);
    expect(isStoreError(error, 'SCHEMA_TOO_NEW')).toBe(true);
    expect((error as StoreError).details).toEqual({
      found: SCHEMA_VERSION + 1,
      supported: SCHEMA_VERSION,
    });

    const after = await openDB(name);
    expect(after.version).toBe(SCHEMA_VERSION + 1);
    expect([...after.objectStoreNames]).toEqual(['future']);
    expect(await after.get('future', 'k')).toEqual({ keep: 'me' });
    after.close();
  });

  test("closes on another tab's versionchange so its upgrade can proceed", async () => {
    const name = uniqueName('versionchange');
    const reasons: string[] = [];
    const store = await open(name, { onClose: (reason) => reasons.push(reason) });
    await store.outcomes.append(outcome(1));

    // A newer tab upgrades: this resolves only because the store closed its connection.
    const newer = await openDB(name, SCHEMA_VERSION + 1, {
      upgrade(db) {
        db.createObjectStore('added-by-newer-code');
      },
    });
    expect(newer.version).toBe(SCHEMA_VERSION + 1);
    expect(await newer.count('outcomes')).toBe(1);
    newer.close();

    expect(reasons).toEqual(['versionchange']);
    expect(store.closed).toBe(true);
    await expect(store.outcomes.count()).rejects.toSatisfy((e) => isStoreError(e, 'CLOSED'));
    await expect(openStore(name)).rejects.toSatisfy((e) => isStoreError(e, 'SCHEMA_TOO_NEW'));
  });

  test('an older connection that will not close blocks the upgrade: reported, then BLOCKED', async () => {
    const name = uniqueName('blocked');
    // Old code that ignores versionchange (idb without a `blocking` callback keeps it open).
    const stubborn = await createAtVersion(name, 1);
    const blocked: { currentVersion: number; requestedVersion: number }[] = [];
    let late: Store | undefined;
    const error = await openStore(name, {
      blockedTimeoutMs: 200,
      onBlocked: (info) => blocked.push(info),
    }).then(
      (store) => {
        late = store;
      },
      (e: unknown) => e,
    );
    late?.close();
    expect(isStoreError(error, 'BLOCKED')).toBe(true);
    expect(blocked).toEqual([{ currentVersion: 1, requestedVersion: SCHEMA_VERSION }]);
    expect(stubborn.version).toBe(1);
    stubborn.close();
  });
});
