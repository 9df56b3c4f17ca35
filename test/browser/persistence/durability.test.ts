// Invariant 1 in each engine: what observe acknowledged survives crashes and reloads, and is
// learned exactly once.
import { afterEach, describe, expect, inject, test } from 'vitest';
import { makeTestBackbone } from '../../../models/testing.ts';
import type { LearnerEvent } from '../../../src/client/index.ts';
import { isLearnerError } from '../../../src/client/index.ts';
import { deleteStore, openStore } from '../../../src/store/index.ts';
import {
  examples,
  Fixtures,
  maxAbsDifference,
  readLog,
  replayReference,
  testModel,
} from '../support/learners.ts';

const fixtures = new Fixtures();
afterEach(() => fixtures.cleanup());

const probe = examples(24, 99);

describe('restart', () => {
  test('after a crash, the snapshot plus the outcomes after it give the same head', async () => {
    const name = fixtures.storeName();
    const worker = fixtures.worker();
    const first = await fixtures.learner({ worker, store: { name, snapshotEvery: 7 } });
    const stream = examples(30, 1);
    for (const [i, example] of stream.entries()) {
      await first.observe(example, i % 3 === 0 ? 1 : 0, { id: `o${i}` });
    }
    const before = await first.predict(probe);
    worker.terminate(); // no flush, no close: the last 2 outcomes are in no snapshot

    const second = await fixtures.learner({ store: { name, snapshotEvery: 7 } });
    const after = await second.predict(probe);
    expect(Array.from(after.scores)).toEqual(Array.from(before.scores));
    const stats = await second.stats();
    expect(stats.lastSeq).toBe(30);
    expect(stats.replayed).toBe(2);
    expect(stats.storage).toBe('indexeddb');
  });

  test('an outcome id is learned once, across retries and restarts', async () => {
    const name = fixtures.storeName();
    const worker = fixtures.worker();
    const first = await fixtures.learner({ worker, store: { name } });
    const [example, other] = examples(2, 2);
    expect((await first.observe(example, 1, { id: 'click-1' })).duplicate).toBe(false);
    const once = await first.predict(probe);
    expect((await first.observe(example, 1, { id: 'click-1' })).duplicate).toBe(true);
    expect((await first.observe(other, 0, { id: 'click-1' })).duplicate).toBe(true);
    expect(Array.from((await first.predict(probe)).scores)).toEqual(Array.from(once.scores));
    worker.terminate();

    const second = await fixtures.learner({ store: { name } });
    expect((await second.observe(example, 1, { id: 'click-1' })).duplicate).toBe(true);
    expect(Array.from((await second.predict(probe)).scores)).toEqual(Array.from(once.scores));
    expect((await readLog(name)).map((record) => record.clientId)).toEqual(['click-1']);
  });

  test('a corrupt snapshot is skipped: the learner falls back, reports it, and keeps serving', async () => {
    const name = fixtures.storeName();
    const first = await fixtures.learner({ store: { name, snapshotEvery: 5 } });
    for (const [i, example] of examples(23, 3).entries()) {
      await first.observe(example, i % 2, { id: `o${i}` });
    }
    const before = await first.predict(probe);
    await first.close();

    const store = await openStore(name);
    const snapshots = await store.snapshots.list((await store.versions.production())!.id);
    const newest = snapshots[0];
    newest.head.weights[0] += 0.5; // a flipped bit on disk, as far as the checksum can tell
    await store.context.db.put('snapshots', newest);
    store.close();

    const second = await fixtures.learner({ store: { name, snapshotEvery: 5 } });
    const after = await second.predict(probe);
    expect(maxAbsDifference(after.scores, before.scores)).toBeLessThanOrEqual(1e-6);
    const stats = await second.stats();
    expect(stats.replayed).toBe(3); // snapshots at 20 (kept) and 23 (corrupt): replay 21–23
    expect(stats.recoveries).toEqual([
      expect.stringContaining('1 snapshot(s) failed their checksum'),
    ]);
  });

  test('a newer app build replaces the bundled model; reloads keep versions and statuses', async () => {
    const name = fixtures.storeName();
    const first = await fixtures.learner({ store: { name } });
    await first.observe(examples(1, 4)[0], 1, { id: 'a' });
    const firstVersion = (await first.stats()).versionId;
    await first.close();

    const update = makeTestBackbone({ seed: 8, raw: true });
    const second = await fixtures.learner({ model: { bytes: update.bytes }, store: { name } });
    const secondVersion = (await second.stats()).versionId;
    expect(secondVersion).not.toBe(firstVersion);
    await second.observe(examples(1, 5)[0], 0, { id: 'b' });
    const scores = (await second.predict(probe)).scores;
    await second.close();

    const reopened = await fixtures.learner({ model: { bytes: update.bytes }, store: { name } });
    expect((await reopened.stats()).versionId).toBe(secondVersion);
    expect(Array.from((await reopened.predict(probe)).scores)).toEqual(Array.from(scores));
    const store = await openStore(name);
    const statuses = Object.fromEntries(
      (await store.versions.list()).map((version) => [version.id, version.status]),
    );
    store.close();
    expect(statuses).toEqual({ [firstVersion]: 'archived', [secondVersion]: 'production' });
  });

  test('app updates keep the last three archived versions and drop older ones with their bytes', async () => {
    const name = fixtures.storeName();
    const ids: string[] = [];
    for (let seed = 20; seed < 25; seed++) {
      const build = makeTestBackbone({ seed, raw: true });
      const learner = await fixtures.learner({ model: { bytes: build.bytes }, store: { name } });
      ids.push((await learner.stats()).versionId);
      await learner.close();
    }
    const store = await openStore(name);
    const kept = Object.fromEntries(
      (await store.versions.list()).map((version) => [version.id, version.status]),
    );
    const bytes = await Promise.all(ids.map((id) => store.models.has(id)));
    store.close();
    expect(kept).toEqual({
      [ids[1]]: 'archived',
      [ids[2]]: 'archived',
      [ids[3]]: 'archived',
      [ids[4]]: 'production',
    });
    expect(bytes).toEqual([false, true, true, true, true]);
  });

  test('without IndexedDB persistence the learner still serves, from memory', async () => {
    const learner = await fixtures.learner({ store: { name: false } });
    await learner.observe(examples(1, 6)[0], 1);
    const stats = await learner.stats();
    expect(stats.storage).toBe('memory');
    expect(stats.observed).toBe(1);
    expect(testModel.spec.output.size).toBe(learner.spec.output.size);
  });

  // The README's promise holds without IndexedDB too: the memory store answers as the log does.
  test.each([
    ['persistence off', () => ({ name: false as const })],
    ['IndexedDB refused (a database from newer code)', () => ({ name: newerDatabase() })],
  ])('%s: an outcome id is learned once', async (_, store) => {
    const options = store();
    const name = options.name === false ? false : await options.name;
    const learner = await fixtures.learner({ store: { name } });
    const twice = await fixtures.learner({ store: { name: false } });
    const stream = examples(12, 21);
    for (const [i, example] of stream.entries()) {
      await learner.observe(example, i % 2, { id: `m${i}` });
      await twice.observe(example, i % 2, { id: `m${i}` });
    }
    // Retries of every outcome, with other labels: stored and learned nowhere.
    const retries = await Promise.all(
      stream.map((example, i) => learner.observe(example, 1 - (i % 2), { id: `m${i}` })),
    );
    expect(retries).toEqual(stream.map((_, i) => ({ seq: i + 1, duplicate: true })));
    const fresh = await learner.observe(stream[0], 1, { id: 'm-new' });
    expect(fresh).toEqual({ seq: 13, duplicate: false });
    await twice.observe(stream[0], 1, { id: 'm-new' });

    const stats = await learner.stats();
    expect(stats.storage).toBe('memory');
    expect(stats.observed).toBe(13);
    expect(stats.duplicates).toBe(12);
    const scores = (await learner.predict(probe)).scores;
    expect(Array.from(scores)).toEqual(Array.from((await twice.predict(probe)).scores));
  });
});

/** A database at a version newer than this code's: openStore refuses it (SCHEMA_TOO_NEW). */
async function newerDatabase(): Promise<string> {
  const name = fixtures.storeName();
  await new Promise<void>((resolve, reject) => {
    const request = indexedDB.open(name, 999);
    request.onsuccess = () => {
      request.result.close();
      resolve();
    };
    request.onerror = () => reject(request.error);
  });
  return name;
}

describe('storage a browser may take away', () => {
  test('store: { persist: true } asks for persistent storage; stats() has the answer and the quota', async () => {
    const plain = await fixtures.learner({ store: { name: fixtures.storeName() } });
    expect((await plain.stats()).persistence.requested).toBe(false);

    const learner = await fixtures.learner({
      store: { name: fixtures.storeName(), persist: true },
    });
    const { persistence } = await learner.stats();
    expect(persistence.requested).toBe(true);
    // What the worker reports is what the page sees.
    expect(persistence.persisted).toBe(await navigator.storage.persisted());
    expect(persistence.quota).toBeGreaterThan(0);
    expect(persistence.usage).toBeGreaterThanOrEqual(0);
    // Firefox grants it here as a person clicking "Allow" would (the test profile's prefs).
    if (inject('engine') === 'firefox') expect(persistence.persisted).toBe(true);
  });

  test('the database deleted between two runs: the next start is a fresh install from the version head', async () => {
    const name = fixtures.storeName();
    const first = await fixtures.learner({ store: { name } });
    const stream = examples(8, 41);
    for (const [i, example] of stream.entries()) await first.observe(example, i % 2);
    await first.close();
    await deleteStore(name); // what eviction, or Safari after 7 days unvisited, does

    const second = await fixtures.learner({ store: { name } });
    const stats = await second.stats();
    expect(stats).toMatchObject({ storage: 'indexeddb', observed: 0, lastSeq: 0 });
    // The app is told, with a code: a browser takes all of an origin's storage at once, so a
    // first start reports the same (the first learner's did too).
    expect(stats.recovered).toEqual([
      {
        code: 'NEW_INSTALL',
        message: expect.stringContaining('new install'),
        at: expect.any(Number),
      },
    ]);
    expect(stats.recoveries).toEqual([stats.recovered[0].message]);
    const untrained = await fixtures.learner({ store: { name: false } });
    expect(Array.from((await second.predict(probe)).scores)).toEqual(
      Array.from((await untrained.predict(probe)).scores),
    );
    // And it learns and keeps state again.
    expect(await second.observe(stream[0], 1, { id: 'after' })).toEqual({
      seq: 1,
      duplicate: false,
    });
  });
});

describe('the database deleted while the learner runs', () => {
  test('it starts again as a new install from the version head: told, and no error loop', async () => {
    const name = fixtures.storeName();
    const learner = await fixtures.learner({ store: { name } });
    const stream = examples(8, 43);
    for (let i = 0; i < 6; i++) await learner.observe(stream[i], i % 2, { id: `d${i}` });
    const told: LearnerEvent[] = [];
    learner.on('recovery', (event) => told.push({ type: 'recovery', ...event }));
    // Another tab's code, or the site's data cleared while the page runs: the learner's
    // connection is asked to close, and does, so the deletion goes ahead.
    await deleteStore(name);

    expect(await learner.observe(stream[6], 1, { id: 'd6' })).toEqual({
      seq: 1,
      duplicate: false,
    });
    // What was learned went with the database (the deletion is respected).
    const untrained = await fixtures.learner({ store: { name: false } });
    await untrained.observe(stream[6], 1, { id: 'd6' });
    expect(Array.from((await learner.predict(probe)).scores)).toEqual(
      Array.from((await untrained.predict(probe)).scores),
    );
    const stats = await learner.stats();
    expect(stats).toMatchObject({ storage: 'indexeddb', observed: 1, lastSeq: 1 });
    const recovery = {
      code: 'NEW_INSTALL',
      message: expect.stringContaining('deleted while the learner ran'),
    };
    expect(stats.recovered).toEqual([{ ...recovery, at: expect.any(Number) }]);
    expect(told).toEqual([expect.objectContaining(recovery)]);
    // And it keeps state again.
    await learner.close();
    expect((await readLog(name)).map((record) => record.clientId)).toEqual(['d6']);
  });
});

describe('IndexedDB refused at open', () => {
  // Private modes and blocked site data: see storage_faults.ts for why these are injected.
  test.each([
    ['open throws (site data blocked)', 'refuse-open', 'UNAVAILABLE'],
    ['no indexedDB at all', 'no-indexeddb', 'UNAVAILABLE'],
  ] as const)('%s: the learner serves from memory, ids exactly once', async (_, kind, cause) => {
    const learner = await fixtures.learner({
      worker: fixtures.faultyWorker(kind),
      store: { name: fixtures.storeName() },
    });
    const reference = await fixtures.learner({ store: { name: false } });
    const stream = examples(10, 61);
    for (const [i, example] of stream.entries()) {
      expect(await learner.observe(example, i % 2, { id: `r${i}` })).toEqual({
        seq: i + 1,
        duplicate: false,
      });
      await reference.observe(example, i % 2, { id: `r${i}` });
    }
    // Every id again, with the other label: neither stored nor learned.
    for (const [i, example] of stream.entries()) {
      expect(await learner.observe(example, 1 - (i % 2), { id: `r${i}` })).toEqual({
        seq: i + 1,
        duplicate: true,
      });
    }
    const stats = await learner.stats();
    expect(stats).toMatchObject({ storage: 'memory', observed: 10, duplicates: 10, lastSeq: 10 });
    expect(stats.recovered).toEqual([
      expect.objectContaining({
        code: 'IN_MEMORY',
        cause,
        message: expect.stringContaining(cause),
      }),
    ]);
    expect(Array.from((await learner.predict(probe)).scores)).toEqual(
      Array.from((await reference.predict(probe)).scores),
    );
  });
});

describe('quota exceeded mid-write', () => {
  // The disk fills up between two outcomes (injected, so that it runs in every engine: see
  // storage_faults.ts; the browser's own refusal, in Chromium and Firefox: test/browser-quota/).
  test('acknowledged outcomes survive, the app is told with QUOTA, the learner keeps serving', async () => {
    const name = fixtures.storeName();
    const { worker, disk } = fixtures.faultyWorker('quota');
    // No snapshot until the test asks: nothing in the log is covered, so eviction frees
    // nothing and every outcome must stay.
    const store = { name, snapshotEvery: 1000 };
    const learner = await fixtures.learner({ worker, store });
    const errors: LearnerEvent[] = [];
    learner.on('error', (event) => errors.push({ type: 'error', ...event }));
    const stream = examples(12, 71);
    for (let i = 0; i < 7; i++) await learner.observe(stream[i], i % 2, { id: `q${i}` });
    const before = Array.from((await learner.predict(probe)).scores);

    await disk.set(true);
    const refused = await learner.observe(stream[7], 1, { id: 'q7' }).catch((e: unknown) => e);
    expect(isLearnerError(refused) && refused.code).toBe('QUOTA');
    // Nothing of it was learned, and the learner still answers: predictions, retries of
    // acknowledged ids (duplicates, as before), a snapshot that cannot be written (an event).
    expect(Array.from((await learner.predict(probe)).scores)).toEqual(before);
    expect(await learner.observe(stream[0], 1, { id: 'q0' })).toEqual({ seq: 1, duplicate: true });
    const again = await learner.observe(stream[8], 0, { id: 'q8' }).catch((e: unknown) => e);
    expect(isLearnerError(again) && again.code).toBe('QUOTA');
    expect((await learner.stats()).observed).toBe(7);

    // Room again: the next outcome is stored and learned, after the acknowledged ones.
    await disk.set(false);
    expect(await learner.observe(stream[9], 1, { id: 'q9' })).toEqual({ seq: 8, duplicate: false });
    const after = Array.from((await learner.predict(probe)).scores);
    await disk.set(true);
    await learner.flush(); // the snapshot is refused: the log has every outcome
    expect(errors).toContainEqual(expect.objectContaining({ code: 'QUOTA' }));
    worker.terminate(); // the page dies with the disk still full

    const reopened = await fixtures.learner({ store });
    expect(Array.from((await reopened.predict(probe)).scores)).toEqual(after);
    const log = await readLog(name);
    expect(log.map((record) => record.clientId)).toEqual([
      ...Array.from({ length: 7 }, (_, i) => `q${i}`),
      'q9',
    ]);
    expect(await reopened.observe(stream[7], 1, { id: 'q7' })).toEqual({
      seq: 9,
      duplicate: false,
    });
    expect(await reopened.observe(stream[9], 1, { id: 'q9' })).toEqual({ seq: 8, duplicate: true });
  });
});

describe('the log is the truth', () => {
  test('the head equals a fresh replay of the log', async () => {
    const name = fixtures.storeName();
    const learner = await fixtures.learner({ store: { name, snapshotEvery: 4 } });
    await Promise.all(
      examples(40, 7).map((example, i) => learner.observe(example, i % 3 ? 0 : 1, { id: `p${i}` })),
    );
    const scores = (await learner.predict(probe)).scores;
    const log = await readLog(name);
    expect(log).toHaveLength(40);
    const reference = await replayReference(fixtures, log, probe);
    expect(maxAbsDifference(scores, reference)).toBeLessThanOrEqual(1e-6);
  });
});

describe('foreign or broken storage', () => {
  test('a database from newer code is left untouched; the learner serves from memory', async () => {
    const name = await newerDatabase();
    const learner = await fixtures.learner({ store: { name } });
    await learner.observe(examples(1, 9)[0], 1);
    const stats = await learner.stats();
    expect(stats.storage).toBe('memory');
    expect(stats.recoveries).toEqual([expect.stringContaining('SCHEMA_TOO_NEW')]);
    const databases = await indexedDB.databases();
    expect(databases.find((db) => db.name === name)?.version).toBe(999);
  });
});

describe('start-up', () => {
  test('is timed phase by phase in stats, the database opening while the model loads', async () => {
    const name = fixtures.storeName();
    const first = await fixtures.learner({ store: { name } });
    await first.observe(examples(1, 5)[0], 1, { id: 'a' });
    await first.close();

    const second = await fixtures.learner({ store: { name } });
    const { startup, replayed } = await second.stats();
    expect(replayed).toBe(0);
    const names = startup.map((phase) => phase.name);
    for (const name of ['worker script', 'database open', 'model fetch', 'backbone load'])
      expect(names).toContain(name);
    // The stored production is the app's model: it is served from the session made while the
    // database opened, and its snapshot is loaded, not a fresh start.
    for (const name of ['stored version', 'snapshot load', 'replay']) expect(names).toContain(name);
    for (const phase of startup) expect(phase.end).toBeGreaterThanOrEqual(phase.start);
    const at = (name: string) => startup.find((phase) => phase.name === name)!;
    expect(at('database open').start).toBeLessThanOrEqual(at('backbone load').start);
    expect(at('stored version').start).toBeGreaterThanOrEqual(at('backbone load').end);
  });
});
