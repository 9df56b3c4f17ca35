// Running out of room: the store's own byte cap (real) and the browser's QuotaExceededError
// (simulated — see the last tests).
import { afterEach, describe, expect, test } from 'vitest';
import type { Store } from '../../../src/store/index.ts';
import { isStoreError, withQuota } from '../../../src/store/index.ts';
import {
  addVersion,
  appendMany,
  cleanup,
  fakeClock,
  head,
  open,
  outcome,
  promoteInTurn,
  uniqueName,
} from './helpers.ts';

afterEach(cleanup);

/** Reopens `store` with a byte cap `margin` bytes above what it holds now. */
async function reopenWithCap(store: Store, name: string, margin: number) {
  const total = (await store.stats()).totalSize;
  store.close();
  return open(name, { limits: { maxBytes: total + margin } });
}

async function oneOutcomeSize(): Promise<number> {
  const probe = await open(uniqueName('probe'));
  await probe.outcomes.append(outcome(1000));
  return (await probe.meta.usage()).outcomes.size;
}

describe('quota', () => {
  test('over the byte cap, covered outcomes go first, oldest first; uncovered ones stay', async () => {
    const one = await oneOutcomeSize();
    const name = uniqueName('cap-outcomes');
    let store = await open(name);
    await addVersion(store, 'v1', 1, 'production');
    await appendMany(store, 1, 50);
    await store.snapshots.write({ versionId: 'v1', seq: 30, head: head(1) });
    await store.snapshots.write({ versionId: 'v1', seq: 40, head: head(1) });
    expect(await store.snapshots.coveredSeq()).toBe(30);

    store = await reopenWithCap(store, name, one * 2);
    await appendMany(store, 51, 60);

    const seqs = (await store.outcomes.after(0)).map((o) => o.seq);
    expect(seqs.at(-1)).toBe(60);
    // Every uncovered outcome (31..60) is kept; only covered ones (≤ 30) went, oldest first.
    const evicted = Array.from({ length: 60 }, (_, i) => i + 1).filter((s) => !seqs.includes(s));
    expect(evicted.length).toBeGreaterThan(0);
    expect(Math.max(...evicted)).toBeLessThanOrEqual(30);
    expect(evicted).toEqual(Array.from({ length: evicted.length }, (_, i) => i + 1));
    const stats = await store.stats();
    expect(stats.counters.quotaEvictions).toBeGreaterThan(0);
    expect(stats.counters.quotaOutcomesEvicted).toBe(evicted.length);
    expect(stats.totalSize).toBeLessThanOrEqual(store.context.limits.maxBytes);
    expect(await store.checkIntegrity()).toEqual([]);
  });

  test('then the oldest archived versions; production is never evicted, even when full', async () => {
    const clock = fakeClock();
    const name = uniqueName('cap-versions');
    let store = await open(name, { now: clock.now });
    await promoteInTurn(store, ['old', 'newer', 'prod'], [1, 2, 3], clock.tick, 4096);
    await store.snapshots.write({ versionId: 'prod', seq: 0, head: head(3) });
    store = await reopenWithCap(store, name, 1000);

    // No outcome is covered (the snapshot is at seq 0), so archived versions go, oldest first.
    let refused: unknown;
    for (let i = 1; i <= 400 && refused === undefined; i++) {
      refused = await store.outcomes.append(outcome(i)).then(
        () => undefined,
        (e: unknown) => e,
      );
    }
    // Full with nothing left to evict: a clear QUOTA error, not a crash.
    expect(isStoreError(refused, 'QUOTA')).toBe(true);
    expect((await store.versions.list()).map((v) => v.id)).toEqual(['prod']);
    const prod = (await store.versions.production())!;
    expect(new Uint8Array((await store.models.get(prod.modelSha256))!)).toHaveLength(4096);
    expect((await store.snapshots.latestValid('prod')).snapshot).toBeDefined();
    expect((await store.stats()).counters.quotaVersionsEvicted).toBe(2);
    // Nothing acknowledged was lost: every appended outcome is there.
    const count = await store.outcomes.count();
    expect((await store.outcomes.after(0)).map((o) => o.seq)).toEqual(
      Array.from({ length: count }, (_, i) => i + 1),
    );
  });

  test('archived versions are evicted oldest first', async () => {
    const clock = fakeClock();
    const name = uniqueName('cap-order');
    let store = await open(name, { now: clock.now });
    await promoteInTurn(store, ['first', 'second', 'prod'], [1, 2, 3], clock.tick, 4096);
    store = await reopenWithCap(store, name, 1000);
    let i = 0;
    while ((await store.versions.list()).length === 3) await store.outcomes.append(outcome(++i));
    expect((await store.versions.list()).map((v) => v.id)).toEqual(['second', 'prod']);
  });

  // A real QuotaExceededError cannot be provoked reliably in a test browser, so these two tests
  // SIMULATE one: the write function handed to withQuota throws a DOMException named
  // QuotaExceededError itself. Everything else (eviction, the retry, the stores) is real.
  test("the browser's QuotaExceededError triggers eviction and one retry (simulated)", async () => {
    const store = await open(uniqueName('quota-simulated'));
    await addVersion(store, 'v1', 1, 'production');
    await appendMany(store, 1, 20);
    await store.snapshots.write({ versionId: 'v1', seq: 10, head: head(1) });
    let calls = 0;
    const result = await withQuota(store.context, 1, async () => {
      calls += 1;
      if (calls === 1) throw new DOMException('simulated: disk full', 'QuotaExceededError');
      return store.outcomes.append(outcome(21));
    });
    expect(calls).toBe(2);
    expect(result).toEqual({ seq: 21, duplicate: false });
    const counters = await store.meta.counters();
    expect(counters.quotaEvictions).toBe(1);
    expect(counters.quotaOutcomesEvicted).toBeGreaterThan(0);
    expect((await store.outcomes.after(0))[0].seq).toBeGreaterThan(1);
    expect(await store.outcomes.get(11)).toBeDefined();
  });

  test('a QuotaExceededError that persists after eviction is QUOTA; production stays (simulated)', async () => {
    const clock = fakeClock();
    const store = await open(uniqueName('quota-persistent'), { now: clock.now });
    await promoteInTurn(store, ['archived', 'prod'], [1, 2], clock.tick);
    let calls = 0;
    const error = await withQuota(store.context, 10_000, async () => {
      calls += 1;
      throw new DOMException('simulated: disk full', 'QuotaExceededError');
    }).catch((e: unknown) => e);
    expect(calls).toBe(2);
    expect(isStoreError(error, 'QUOTA')).toBe(true);
    expect((await store.versions.list()).map((v) => v.id)).toEqual(['prod']);
    expect(await store.models.has((await store.versions.production())!.modelSha256)).toBe(true);
  });
});
