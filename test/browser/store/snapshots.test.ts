// Head snapshots: checksums, exact round trips, corrupt fallback and pruning.
import { afterEach, describe, expect, test } from 'vitest';
import type { SnapshotRecord, Store } from '../../../src/store/index.ts';
import { checksum, isStoreError } from '../../../src/store/index.ts';
import { addVersion, cleanup, head, open, uniqueName } from './helpers.ts';

afterEach(cleanup);

/** Changes a stored snapshot in place, as a bit flip on disk would: the checksum stays. */
async function corrupt(store: Store, id: number, change: (record: SnapshotRecord) => void) {
  const record = (await store.db.get('snapshots', id))!;
  change(record);
  await store.db.put('snapshots', record);
}

describe('snapshots', () => {
  test('a snapshot round-trips exactly, Float64Array weights and opaque scaler included', async () => {
    const name = uniqueName('round-trip');
    let store = await open(name);
    const state = head(3, 64);
    state.weights[0] = -0;
    state.weights[1] = Number.MIN_VALUE;
    state.weights[2] = 0.1 + 0.2;
    const scaler = { n: 12, mean: new Float64Array([1.5, -2]), m2: new Float64Array([0.25, 4]) };
    const written = await store.snapshots.write({ versionId: 'v1', seq: 42, head: state, scaler });
    expect(written.checksum).toBe(
      checksum({ versionId: 'v1', seq: 42, createdAt: written.createdAt, head: state, scaler }),
    );
    store.close();
    store = await open(name); // a reload
    const { snapshot, corrupt: bad } = await store.snapshots.latestValid('v1');
    expect(bad).toBe(0);
    expect(snapshot?.id).toBe(written.id);
    expect(snapshot?.seq).toBe(42);
    expect(snapshot?.head.weights).toBeInstanceOf(Float64Array);
    // Bit-exact, not just close: compare the raw bytes.
    expect(new Uint8Array(snapshot!.head.weights.buffer)).toEqual(
      new Uint8Array(state.weights.buffer),
    );
    expect(Object.is(snapshot!.head.weights[0], -0)).toBe(true);
    expect(snapshot?.head.slots.sumSquares).toEqual(state.slots.sumSquares);
    expect(snapshot?.head.config).toEqual(state.config);
    expect(snapshot?.scaler).toEqual(scaler);
  });

  test('a snapshot is taken at the call: later learning does not leak into it', async () => {
    const store = await open(uniqueName('copy'));
    const state = head(4);
    const pending = store.snapshots.write({ versionId: 'v1', seq: 4, head: state });
    state.weights[0] += 1; // the head keeps learning
    await pending;
    const { snapshot, corrupt: bad } = await store.snapshots.latestValid('v1');
    expect(bad).toBe(0);
    expect(snapshot?.head.weights).toEqual(head(4).weights);
  });

  test('the checksum changes with any bit of the weights, and not with key order', () => {
    const a = head(1);
    const b = head(1);
    expect(checksum(a)).toBe(checksum(b));
    const view = new Uint8Array(b.weights.buffer);
    view[3] ^= 0x10;
    expect(checksum(a)).not.toBe(checksum(b));
    expect(checksum({ x: 1, y: [2, 'z'] })).toBe(checksum({ y: [2, 'z'], x: 1 }));
    expect(checksum({ x: 1 })).not.toBe(checksum({ x: '1' }));
  });

  test('a corrupt newest snapshot is detected and skipped: the previous one is used', async () => {
    const store = await open(uniqueName('corrupt'));
    await addVersion(store, 'v1', 1, 'production');
    const older = await store.snapshots.write({ versionId: 'v1', seq: 10, head: head(1) });
    const newer = await store.snapshots.write({ versionId: 'v1', seq: 20, head: head(2) });
    expect((await store.snapshots.latestValid('v1')).snapshot?.id).toBe(newer.id);

    await corrupt(store, newer.id, (record) => {
      record.head.weights[1] += 1e-12;
    });
    const fallback = await store.snapshots.latestValid('v1');
    expect(fallback.corrupt).toBe(1);
    expect(fallback.snapshot?.id).toBe(older.id);
    expect(fallback.snapshot?.seq).toBe(10);
    expect(await store.checkIntegrity()).toEqual([
      { kind: 'corrupt_snapshot', versionId: 'v1', snapshotId: newer.id },
    ]);

    // Other kinds of damage: a changed seq, a missing field.
    await corrupt(store, older.id, (record) => {
      record.seq = 11;
    });
    expect(await store.snapshots.latestValid('v1')).toEqual({ snapshot: undefined, corrupt: 2 });
    await corrupt(store, older.id, (record) => {
      (record as { head?: unknown }).head = undefined;
    });
    expect((await store.snapshots.latestValid('v1')).corrupt).toBe(2);
  });

  test('keeps the newest two valid snapshots per version, dropping corrupt ones', async () => {
    const store = await open(uniqueName('prune'));
    const ids: number[] = [];
    for (let seq = 1; seq <= 5; seq++) {
      ids.push((await store.snapshots.write({ versionId: 'v1', seq, head: head(seq) })).id);
    }
    await store.snapshots.write({ versionId: 'v2', seq: 3, head: head(9) });
    expect((await store.snapshots.list('v1')).map((s) => s.id)).toEqual([ids[4], ids[3]]);
    expect(await store.snapshots.list('v2')).toHaveLength(1);

    // The newest turns bad: the next write keeps the new one and the last good one.
    await corrupt(store, ids[4], (record) => {
      record.head.intercepts[0] = 7;
    });
    const next = await store.snapshots.write({ versionId: 'v1', seq: 6, head: head(6) });
    expect((await store.snapshots.list('v1')).map((s) => s.id)).toEqual([next.id, ids[3]]);
    expect(await store.meta.counter('snapshotsCorruptDropped')).toBe(1);
    expect((await store.meta.usage()).snapshots.count).toBe(3);
  });

  test('bad snapshots are refused before anything is written', async () => {
    const store = await open(uniqueName('bad'));
    const state = head(1);
    for (const input of [
      { versionId: 'v1', seq: -1, head: state },
      { versionId: 'v1', seq: 1.5, head: state },
      { versionId: '', seq: 1, head: state },
      {
        versionId: 'v1',
        seq: 1,
        head: { ...state, weights: [1, 2, 3] as unknown as Float64Array },
      },
    ]) {
      const error = await store.snapshots.write(input).catch((e: unknown) => e);
      expect(isStoreError(error, 'BAD_RECORD')).toBe(true);
    }
    expect(await store.db.count('snapshots')).toBe(0);
  });
});
