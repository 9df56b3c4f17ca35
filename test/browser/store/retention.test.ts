// Retention: what a device keeps for instant rollback, and what it deletes.
import { afterEach, describe, expect, test } from 'vitest';
import {
  addVersion,
  cleanup,
  fakeClock,
  head,
  modelBytes,
  open,
  promoteInTurn,
  uniqueName,
} from './helpers.ts';

afterEach(cleanup);

describe('retention', () => {
  test('keeps production, staging, drafts and the last 3 retired versions; deletes unused bytes', async () => {
    const clock = fakeClock();
    const store = await open(uniqueName('retention'), { now: clock.now });
    // a1..a5 then prod are promoted in turn, so a1..a5 end up archived, oldest first.
    // a1 shares its model bytes with prod: they must survive a1's removal.
    await promoteInTurn(
      store,
      ['a1', 'a2', 'a3', 'a4', 'a5', 'prod'],
      [100, 2, 3, 4, 5, 100],
      clock.tick,
    );
    await addVersion(store, 'r1', 6, 'staging');
    clock.tick();
    await store.versions.transition('r1', 'rolled_back'); // the newest retired one
    await addVersion(store, 'stage', 7, 'staging');
    await addVersion(store, 'draft', 8, 'draft');
    const orphan = await modelBytes(9);
    await store.models.put(orphan.sha256, orphan.bytes);
    for (const id of ['a2', 'a4', 'prod']) {
      await store.snapshots.write({ versionId: id, seq: 1, head: head(1) });
    }
    const shaOf = async (id: string) => (await store.versions.get(id))!.modelSha256;
    const removedShas = [await shaOf('a2'), await shaOf('a3')];

    const result = await store.applyRetention();
    expect(result.removedVersions.sort()).toEqual(['a1', 'a2', 'a3']);
    expect(result.removedModels.sort()).toEqual([...removedShas, orphan.sha256].sort());
    expect(result.removedSnapshots).toBe(1);

    const kept = (await store.versions.list()).map((v) => `${v.id}:${v.status}`).sort();
    expect(kept).toEqual(
      [
        'a4:archived',
        'a5:archived',
        'draft:draft',
        'prod:production',
        'r1:rolled_back',
        'stage:staging',
      ].sort(),
    );
    // Every remaining version still has its bytes; nothing else is stored.
    const remaining = await store.versions.list();
    expect((await store.models.list()).sort()).toEqual(
      [...new Set(remaining.map((v) => v.modelSha256))].sort(),
    );
    expect(await store.checkIntegrity()).toEqual([]);
    expect(await store.snapshots.list('a2')).toEqual([]);
    expect(await store.snapshots.list('a4')).toHaveLength(1);
    const usage = await store.meta.usage();
    expect(usage.models.count).toBe((await store.models.list()).length);
    expect(usage.snapshots.count).toBe(2);

    // Running it again changes nothing.
    expect(await store.applyRetention()).toEqual({
      removedVersions: [],
      removedModels: [],
      removedSnapshots: 0,
    });
  });

  test('even with K = 0, production and its bytes are never removed', async () => {
    const clock = fakeClock();
    const store = await open(uniqueName('keep-zero'), { now: clock.now });
    await promoteInTurn(store, ['old', 'prod'], [1, 2], clock.tick);
    await store.snapshots.write({ versionId: 'prod', seq: 0, head: head(2) });
    const result = await store.applyRetention({ keepArchived: 0 });
    expect(result.removedVersions).toEqual(['old']);
    const prod = (await store.versions.production())!;
    expect(prod.id).toBe('prod');
    expect(await store.models.has(prod.modelSha256)).toBe(true);
    expect((await store.snapshots.latestValid('prod')).snapshot).toBeDefined();
  });

  test('retention results survive a reload', async () => {
    const clock = fakeClock();
    const name = uniqueName('retention-reload');
    let store = await open(name, { now: clock.now });
    await promoteInTurn(store, ['a', 'b', 'c', 'd', 'e'], [1, 2, 3, 4, 5], clock.tick);
    await store.applyRetention({ keepArchived: 2 });
    const before = await store.versions.list();
    store.close();
    store = await open(name, { now: clock.now });
    expect(await store.versions.list()).toEqual(before);
    expect(before.map((v) => v.id)).toEqual(['c', 'd', 'e']);
  });
});
