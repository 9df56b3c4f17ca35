// A reload: close the store and open it again (as a new page would); everything is restored.
import { afterEach, describe, expect, test } from 'vitest';
import type { Store } from '../../../src/store/index.ts';
import {
  addVersion,
  appendMany,
  cleanup,
  fakeClock,
  head,
  open,
  outcome,
  uniqueName,
} from './helpers.ts';

afterEach(cleanup);

async function everything(store: Store) {
  const versions = await store.versions.list();
  return {
    versions,
    models: await Promise.all(
      versions.map(async (v) => new Uint8Array((await store.models.get(v.modelSha256))!)),
    ),
    snapshots: await Promise.all(versions.map((v) => store.snapshots.latestValid(v.id))),
    outcomes: await store.outcomes.after(0),
    outbox: await store.outbox.due(100, Number.POSITIVE_INFINITY),
    installId: await store.meta.installId(),
    bucket: await store.meta.bucket('r1'),
    stats: await store.stats(),
  };
}

describe('reload', () => {
  test('reopening after close restores versions, bytes, snapshots, outcomes, outbox and meta', async () => {
    const clock = fakeClock();
    const name = uniqueName('reload-all');
    const store = await open(name, { now: clock.now, limits: { maxOutcomes: 30 } });
    await addVersion(store, 'v1', 1, 'production');
    await addVersion(store, 'v2', 2, 'staging');
    await store.versions.setWeight('v2', 0.25);
    await appendMany(store, 1, 40); // 10 evicted by the cap
    await store.snapshots.write({ versionId: 'v1', seq: 35, head: head(1, 16), scaler: { n: 35 } });
    await store.snapshots.write({ versionId: 'v2', seq: 38, head: head(2, 16) });
    await store.outbox.enqueue('batch-1', { windows: [{ versionId: 'v1', logloss: 0.3 }] });
    await store.meta.setBucket('r1', 0.125);
    const before = await everything(store);
    expect(before.stats.outcomesEvicted).toBe(10);
    store.close();

    const reopened = await open(name, { now: clock.now, limits: { maxOutcomes: 30 } });
    const after = await everything(reopened);
    expect(after).toEqual(before);
    expect(after.snapshots[0].snapshot?.head.weights).toBeInstanceOf(Float64Array);
    // And it carries on where it stopped.
    expect(await reopened.outcomes.append(outcome(40))).toEqual({ seq: 40, duplicate: true });
    expect(await reopened.outcomes.append(outcome(41))).toEqual({ seq: 41, duplicate: false });
  });
});
