// The metrics reporter on real IndexedDB, with a scripted server in place of fetch: what it
// saves and queues across reloads and crashes, drop counts, refusals, credentials.
import { afterEach, describe, expect, test } from 'vitest';
import { isLearnerError } from '../../../src/errors.ts';
import type { Store } from '../../../src/store/index.ts';
import type { MetricsBatch, MetricWindow } from '../../../src/sync/protocol.ts';
import type { ReporterDeps } from '../../../src/sync/reporter.ts';
import { MetricsReporter } from '../../../src/sync/reporter.ts';
import type { LearnedOutcome } from '../../../src/sync/scored_outcome.ts';
import { cleanup, open, uniqueName } from '../store/helpers.ts';
import { examples, Fixtures } from '../support/learners.ts';

afterEach(cleanup);

const options = {
  url: 'http://127.0.0.1:9', // never reached: the test's own fetch answers
  appKey: 'app',
  window: { maxOutcomes: 5, maxAgeMs: 3_600_000 },
  flushIntervalMs: 3_600_000,
  flushAtQueued: 1000, // send only when the test says so (flush)
  backoff: { baseMs: 10, maxMs: 20 },
};

type Answer = { status: number; body?: unknown } | 'refuse';

/** A scripted sync server: answers metrics requests in order (the last answer repeats). */
function scriptedServer(script: Answer[] = [{ status: 201 }]) {
  const batches: MetricsBatch[] = [];
  let registrations = 0;
  const fetch: typeof globalThis.fetch = async (url, init) => {
    const path = new URL(String(url)).pathname;
    if (path === '/v1/register') {
      registrations++;
      return Response.json(
        { installId: `i${registrations}`, token: `i${registrations}.t` },
        { status: 201 },
      );
    }
    const batch = JSON.parse(String(init?.body)) as MetricsBatch;
    batches.push(batch);
    const answer = script.length > 1 ? script.shift()! : script[0];
    if (answer === 'refuse') throw new TypeError('Failed to fetch');
    const ok = {
      idempotencyKey: batch.idempotencyKey,
      windows: batch.windows.length,
      stored: batch.windows.length,
      duplicates: 0,
    };
    return Response.json(
      answer.body ?? (answer.status < 300 ? ok : { error: { code: 'X', message: 'x' } }),
      {
        status: answer.status,
      },
    );
  };
  return { fetch, batches, registrations: () => registrations };
}

/** Binary outcomes with made-up losses: seq 1, 2, … (every third positive), a ms apart. */
const T0 = Date.now();
const outcome = (seq: number): LearnedOutcome => ({
  seq,
  ts: T0 + seq,
  versionId: 'v1',
  label: seq % 3 === 0 ? 1 : 0,
  loss: 0.1 + (seq % 7) / 10,
});

function reporter(store: Store, deps: ReporterDeps, overrides: object = {}) {
  return MetricsReporter.open(store, { ...options, ...overrides }, { task: 'binary' }, deps);
}

async function queuedWindows(store: Store): Promise<MetricWindow[]> {
  const due = await store.outbox.due(1000, Number.POSITIVE_INFINITY);
  return due.flatMap((item) => (item.body as MetricsBatch).windows);
}

describe('across reloads and crashes', () => {
  test('an open window continues after a reload; replayed outcomes are not counted twice', async () => {
    const name = uniqueName('reporter-reload');
    const server = scriptedServer();
    const firstStore = await open(name);
    const first = await reporter(firstStore, { fetch: server.fetch });
    for (let seq = 1; seq <= 7; seq++) first.record(outcome(seq));
    await first.checkpoint(); // what the learner does before its snapshot at seq 7
    for (const seq of [8, 9]) first.record(outcome(seq));
    firstStore.close(); // the page dies: nothing it still had in memory reaches the store

    // The learner replays from its snapshot: the reporter ignores what it saved (≤ 7).
    const store = await open(name);
    const second = await reporter(store, { fetch: server.fetch });
    for (let seq = 6; seq <= 10; seq++) second.record(outcome(seq));
    second.start();
    await second.flush();
    const received = server.batches.flatMap((batch) => batch.windows);

    const referenceStore = await open(uniqueName('reporter-reference'));
    const uninterrupted = await reporter(referenceStore, {});
    for (let seq = 1; seq <= 10; seq++) uninterrupted.record(outcome(seq));
    await uninterrupted.checkpoint();
    const expected = await queuedWindows(referenceStore);

    expect(received.map((w) => w.windowId)).toEqual(['v1:1-5', 'v1:6-10']);
    expect(received).toEqual(expected);
    expect(await second.stats()).toMatchObject({ windows: 2, delivered: 2, queued: 0 });
  });

  test('a window saved but not yet queued when the page died is queued on the next start', async () => {
    const name = uniqueName('reporter-pending');
    const store = await open(name);
    let reached = () => {};
    const atEnqueue = new Promise<void>((resolve) => {
      reached = resolve;
    });
    // The page dies as the window is about to be queued: the enqueue never happens.
    store.outbox.enqueue = () => {
      reached();
      return new Promise(() => {});
    };
    const first = await reporter(store, { fetch: scriptedServer().fetch });
    for (let seq = 1; seq <= 5; seq++) first.record(outcome(seq));
    await atEnqueue;
    expect(await store.outbox.count()).toBe(0);
    store.close(); // the page dies

    const reopened = await open(name);
    const second = await reporter(reopened, { fetch: scriptedServer().fetch });
    for (let seq = 1; seq <= 5; seq++) second.record(outcome(seq)); // replayed: ignored
    second.start();
    await second.checkpoint();
    const queued = await reopened.outbox.due(10, Number.POSITIVE_INFINITY);
    expect(queued.map((item) => item.key)).toEqual(['window:v1:1-5']);
    expect((queued[0].body as MetricsBatch).windows[0]).toMatchObject({ count: 5, positives: 1 });

    second.record(outcome(6));
    await second.flush();
    expect((await queuedWindows(reopened)).map((w) => w.windowId)).toEqual([]);
    const stats = await second.stats();
    expect(stats).toMatchObject({ windows: 2, delivered: 2, queued: 0 });
  });
});

describe('what the server hears', () => {
  test('windows the full outbox dropped are reported with the next window', async () => {
    const name = uniqueName('reporter-drops');
    const store = await open(name, { limits: { maxOutbox: 2 } });
    const server = scriptedServer(['refuse']);
    const metrics = await reporter(store, { fetch: server.fetch });
    for (let seq = 1; seq <= 25; seq++) {
      metrics.record(outcome(seq));
      if (seq % 5 === 0) await metrics.checkpoint(); // each window saved before the next closes
    }
    // Five windows into an outbox of two: 1, 2 and 3 were dropped, oldest first.
    const queued = await queuedWindows(store);
    expect(queued.map((w) => [w.windowId, w.dropped])).toEqual([
      ['v1:16-20', 1], // window 1 was dropped when window 3 was queued
      ['v1:21-25', 1], // window 2, when window 4 was
    ]);
    const stats = await metrics.stats();
    expect(stats).toMatchObject({ windows: 5, queued: 2, dropped: 3 });
    // The drop made by queuing window 5 goes with the next window.
    for (let seq = 26; seq <= 30; seq++) metrics.record(outcome(seq));
    await metrics.checkpoint();
    expect((await queuedWindows(store)).map((w) => w.dropped)).toEqual([1, 1]);
    expect((await queuedWindows(store))[1].windowId).toBe('v1:26-30');
  });

  test('a batch the server refuses as invalid is dropped with its reason, not retried', async () => {
    const store = await open(uniqueName('reporter-refused'));
    const server = scriptedServer([
      { status: 400, body: { error: { code: 'INVALID_BODY', message: 'windows[0].count' } } },
      { status: 201 },
    ]);
    const metrics = await reporter(store, { fetch: server.fetch });
    for (let seq = 1; seq <= 5; seq++) metrics.record(outcome(seq));
    await metrics.flush();
    await metrics.flush();
    expect(server.batches).toHaveLength(1);
    const stats = await metrics.stats();
    expect(stats).toMatchObject({ windows: 1, queued: 0, delivered: 0, rejected: 1 });
    expect(stats.lastRejection).toMatchObject({ code: 'INVALID_BODY', status: 400, windows: 1 });
    expect((await store.stats()).counters['syncWindowsRejected.INVALID_BODY']).toBe(1);
  });

  test('credentials are kept across reloads; a refused token registers again', async () => {
    const name = uniqueName('reporter-credentials');
    const server = scriptedServer([
      { status: 201 },
      { status: 401, body: { error: { code: 'INVALID_TOKEN', message: 'unknown' } } },
      { status: 201 },
    ]);
    const first = await reporter(await open(name), { fetch: server.fetch });
    first.record(outcome(1));
    first.start();
    await first.flush();
    expect(server.registrations()).toBe(1);
    await first.close();

    const second = await reporter(await open(name), { fetch: server.fetch });
    second.record(outcome(2));
    await second.flush();
    expect(server.registrations()).toBe(2); // the 401, not the reload
    const stats = await second.stats();
    expect(stats).toMatchObject({ registered: true, installId: 'i2', delivered: 2, queued: 0 });
  });

  test('a window left idle closes by age, on the clock', async () => {
    const store = await open(uniqueName('reporter-age'));
    const metrics = await reporter(store, {}, { window: { maxOutcomes: 100, maxAgeMs: 30 } });
    metrics.start();
    metrics.record({ ...outcome(1), ts: Date.now() });
    metrics.record({ ...outcome(2), ts: Date.now() });
    // Polled: the close is the reporter's own timer, which no event announces.
    for (let i = 0; i < 200 && (await store.outbox.count()) === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect((await queuedWindows(store)).map((w) => [w.windowId, w.count])).toEqual([['v1:1-2', 2]]);
    await metrics.close();
  });
});

describe('wiring into the learner', () => {
  const fixtures = new Fixtures();
  afterEach(() => fixtures.cleanup());

  test('unusable sync options fail createLearner with BAD_CONFIG', async () => {
    const failed = await fixtures
      .learner({ store: { name: false }, sync: { url: 'not a url', appKey: 'k' } })
      .catch((error: unknown) => error);
    expect(isLearnerError(failed) && failed.code).toBe('BAD_CONFIG');
  });

  test('without IndexedDB the learner learns but does not report, and says so', async () => {
    const learner = await fixtures.learner({
      store: { name: false },
      sync: { url: 'http://127.0.0.1:9', appKey: 'k' },
    });
    await learner.observe(examples(1, 5)[0], 1);
    const stats = await learner.stats();
    expect(stats.sync).toBeUndefined();
    expect(stats.recoveries).toEqual(['metrics reporting is off: it needs IndexedDB']);
  });
});
