// The outcome log: exactly-once appends, replay order, compaction and the size cap.
import { afterEach, describe, expect, test } from 'vitest';
import { isStoreError } from '../../../src/store/index.ts';
import {
  addVersion,
  appendMany,
  cleanup,
  example,
  head,
  open,
  outcome,
  uniqueName,
} from './helpers.ts';

afterEach(cleanup);

describe('outcome log', () => {
  test('a second append of the same client id writes nothing and returns the original seq', async () => {
    const store = await open(uniqueName('dup'));
    const first = await store.outcomes.append(outcome(1));
    expect(first).toEqual({ seq: 1, duplicate: false });
    const usage = await store.meta.usage();
    // Same id, different content: still the same outcome, learned once.
    const again = await store.outcomes.append(outcome(1, { label: 0, versionId: 'v2' }));
    expect(again).toEqual({ seq: 1, duplicate: true });
    expect(await store.outcomes.count()).toBe(1);
    expect((await store.outcomes.get(1))?.versionId).toBe('v1');
    expect(await store.meta.usage()).toEqual(usage);
  });

  test('concurrent appends of the same client id store one record', async () => {
    const store = await open(uniqueName('concurrent'));
    const results = await Promise.all(
      Array.from({ length: 20 }, () => store.outcomes.append(outcome(7))),
    );
    expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
    expect(new Set(results.map((r) => r.seq)).size).toBe(1);
    expect(await store.outcomes.count()).toBe(1);
  });

  test('concurrent appends from two connections (two tabs) store each id once', async () => {
    const name = uniqueName('two-connections');
    const a = await open(name);
    const b = await open(name);
    const ids = Array.from({ length: 30 }, (_, i) => i % 10);
    const results = await Promise.all(
      ids.map((i, k) => (k % 2 ? a : b).outcomes.append(outcome(i))),
    );
    expect(results.filter((r) => !r.duplicate)).toHaveLength(10);
    expect(await a.outcomes.count()).toBe(10);
    const stored = await a.outcomes.after(0);
    expect(new Set(stored.map((o) => o.clientId)).size).toBe(10);
    expect((await a.meta.usage()).outcomes.count).toBe(10);
  });

  test('replay returns outcomes after a seq, in seq order, in pages', async () => {
    const store = await open(uniqueName('replay'));
    const seqs = await appendMany(store, 1, 25);
    expect(seqs).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    const replayed: number[] = [];
    let from = 10;
    for (;;) {
      const page = await store.outcomes.after(from, 4);
      if (page.length === 0) break;
      replayed.push(...page.map((o) => o.seq));
      from = page.at(-1)!.seq;
    }
    expect(replayed).toEqual(seqs.slice(10));
    const eleventh = (await store.outcomes.after(10, 1))[0];
    expect(eleventh).toMatchObject({ seq: 11, clientId: 'outcome-11', label: 1 });
    expect(eleventh.example.columns.x).toEqual(example(11).columns.x);
    expect(eleventh.example.columns.x).toBeInstanceOf(Float32Array);
    expect(await store.outcomes.lastSeq()).toBe(25);
    expect((await store.outcomes.recent(3)).map((o) => o.seq)).toEqual([23, 24, 25]);
  });

  test('append stores the example as it was at the call, whatever the caller does next', async () => {
    const store = await open(uniqueName('copy'));
    const given = outcome(1);
    const x = given.example.columns.x;
    const pending = store.outcomes.append(given);
    x.fill(99); // e.g. a scratch buffer reused for the next example
    await pending;
    expect((await store.outcomes.get(1))?.example.columns.x).toEqual(example(1).columns.x);
  });

  test('bad outcomes are refused before anything is written', async () => {
    const store = await open(uniqueName('bad'));
    for (const bad of [
      outcome(1, { clientId: '' }),
      outcome(1, { label: Number.NaN }),
      outcome(1, { example: { n: 1, columns: { x: [1, 2] as unknown as Float32Array } } }),
      outcome(1, { ts: Number.POSITIVE_INFINITY }),
    ]) {
      const error = await store.outcomes.append(bad).catch((e: unknown) => e);
      expect(isStoreError(error, 'BAD_RECORD')).toBe(true);
    }
    expect(await store.outcomes.count()).toBe(0);
  });

  test('compaction keeps the recent window and everything after the covering snapshot', async () => {
    const store = await open(uniqueName('compact'));
    await appendMany(store, 1, 100);
    // Covered up to 60, keep the newest 20 (81..100): deletes 1..60 only.
    expect(await store.outcomes.compact(60, 20)).toBe(60);
    expect((await store.outcomes.after(0)).map((o) => o.seq)).toEqual(
      Array.from({ length: 40 }, (_, i) => i + 61),
    );
    // Covered up to 95, keep 20: the window (81..100) wins over coverage.
    expect(await store.outcomes.compact(95, 20)).toBe(20);
    expect((await store.outcomes.after(0))[0].seq).toBe(81);
    // A window larger than the log deletes nothing.
    expect(await store.outcomes.compact(100, 500)).toBe(0);
    expect(await store.outcomes.count()).toBe(20);
    expect(await store.meta.counter('outcomesCompacted')).toBe(80);
    expect((await store.meta.usage()).outcomes.count).toBe(20);
    // Seqs keep growing after compaction: replay positions stay meaningful.
    expect((await store.outcomes.append(outcome(101))).seq).toBe(101);
  });

  test('coveredSeq is safe for the fallback snapshot of every live version', async () => {
    const store = await open(uniqueName('covered'));
    expect(await store.snapshots.coveredSeq()).toBe(0);
    await addVersion(store, 'v1', 1, 'production');
    await addVersion(store, 'v2', 2, 'staging');
    await appendMany(store, 1, 50);
    await store.snapshots.write({ versionId: 'v1', seq: 20, head: head(1) });
    // v2 has no snapshot: nothing is covered for it, so nothing may be compacted.
    expect(await store.snapshots.coveredSeq()).toBe(0);
    await store.snapshots.write({ versionId: 'v2', seq: 30, head: head(2) });
    expect(await store.snapshots.coveredSeq()).toBe(20);
    await store.snapshots.write({ versionId: 'v1', seq: 40, head: head(1) });
    await store.snapshots.write({ versionId: 'v2', seq: 45, head: head(2) });
    // Each version keeps two snapshots; the older one (v1: 20, v2: 30) is the fallback.
    expect(await store.snapshots.coveredSeq()).toBe(20);
    await store.snapshots.write({ versionId: 'v1', seq: 50, head: head(1) });
    expect(await store.snapshots.coveredSeq()).toBe(30);
    expect(await store.outcomes.compact(await store.snapshots.coveredSeq(), 0)).toBe(30);
  });

  test('the count cap evicts the oldest outcomes and counts them', async () => {
    const store = await open(uniqueName('cap-count'), { limits: { maxOutcomes: 10 } });
    await appendMany(store, 1, 25);
    expect((await store.outcomes.after(0)).map((o) => o.seq)).toEqual(
      Array.from({ length: 10 }, (_, i) => i + 16),
    );
    const stats = await store.stats();
    expect(stats.outcomesEvicted).toBe(15);
    expect(stats.usage.outcomes.count).toBe(10);
  });

  test('the byte cap evicts the oldest outcomes and counts them', async () => {
    const probe = await open(uniqueName('probe'));
    await probe.outcomes.append(outcome(1));
    const one = (await probe.meta.usage()).outcomes.size;
    const store = await open(uniqueName('cap-bytes'), {
      limits: { maxOutcomeBytes: Math.floor(one * 5.5) },
    });
    await appendMany(store, 1, 12);
    expect(await store.outcomes.count()).toBe(5);
    expect((await store.outcomes.after(0))[0].seq).toBe(8);
    expect((await store.stats()).outcomesEvicted).toBe(7);
    expect((await store.meta.usage()).outcomes.size).toBeLessThanOrEqual(one * 5.5);
  });

  test('reopening after close (a reload) restores the log and continues the sequence', async () => {
    const name = uniqueName('reload');
    const first = await open(name);
    await appendMany(first, 1, 5);
    first.close();
    const second = await open(name);
    expect((await second.outcomes.after(0)).map((o) => o.clientId)).toEqual(
      [1, 2, 3, 4, 5].map((i) => `outcome-${i}`),
    );
    expect(await second.outcomes.append(outcome(3))).toEqual({ seq: 3, duplicate: true });
    expect(await second.outcomes.append(outcome(6))).toEqual({ seq: 6, duplicate: false });
  });
});
