// The metrics reporter on real IndexedDB, with a scripted server in place of fetch: what it
// saves and queues across reloads and crashes, drop counts, refusals, credentials.
import { afterEach, describe, expect, test } from 'vitest';
import { isLearnerError } from '../../../src/errors.ts';
import { rankingAtK } from '../../../src/metrics/ranking.ts';
import type { MetricsBatch, MetricWindow } from '../../../src/protocol/index.ts';
import type { ReporterDeps } from '../../../src/reporting/reporter.ts';
import { MetricsReporter } from '../../../src/reporting/reporter.ts';
import type { LearnedOutcome } from '../../../src/reporting/scored_outcome.ts';
import type { Store } from '../../../src/store/index.ts';
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

describe('slates, conversions and feature statistics', () => {
  const rankingOf = (results: ReturnType<typeof rankingAtK>[], k: number) => ({
    k,
    slates: results.length,
    precisionSum: results.reduce((sum, r) => sum + r!.precision, 0),
    recallSum: results.reduce((sum, r) => sum + r!.recall, 0),
    ndcgSum: results.reduce((sum, r) => sum + r!.ndcg, 0),
  });
  const scores = [0.2, 0.9, 0.5, 0.7];

  test('a window holds the ranking, CTR and feature sums its inputs imply', async () => {
    const store = await open(uniqueName('reporter-sections'));
    const server = scriptedServer();
    const metrics = await MetricsReporter.open(
      store,
      { ...options, window: { maxOutcomes: 100, maxAgeMs: 3_600_000 } },
      { task: 'binary', ranking: { k: 2 } },
      { fetch: server.fetch },
    );
    metrics.openSlate({ id: 's1', versionId: 'v1', scores, surface: 'feed' });
    metrics.openSlate({ id: 'side', versionId: 'v1', scores, surface: 'sidebar' });
    const at = (seq: number, more: Partial<LearnedOutcome>): LearnedOutcome => ({
      ...outcome(seq),
      features: { price: seq, pos: [seq, -seq] },
      ...more,
    });
    metrics.record(at(1, { label: 1, slate: { id: 's1', candidate: 2 } })); // ranked 2nd: click
    metrics.record(at(2, { label: 0, slate: { id: 's1', candidate: 1 } })); // ranked 1st: skipped
    metrics.record(at(3, { label: 1, kind: 'conversion', slate: { id: 's1', candidate: 0 } }));
    metrics.record(at(4, { label: 1, slate: { id: 'side', candidate: 1 } }));
    // The next slate on the feed closes s1; s2 is closed by the app; s3 by the flush.
    metrics.openSlate({ id: 's2', versionId: 'v1', scores, surface: 'feed' });
    metrics.record(at(5, { label: 1, slate: { id: 's1', candidate: 3 } })); // s1 is closed
    metrics.record(at(6, { label: 0, slate: { id: 's2', candidate: 1 } })); // no relevant one
    metrics.closeSlate('s2');
    metrics.openSlate({ id: 's3', versionId: 'v1', scores, surface: 'feed' });
    metrics.record(at(7, { label: 1, kind: 'conversion', slate: { id: 's3', candidate: 1 } }));
    await metrics.flush();

    const [window] = server.batches.flatMap((batch) => batch.windows);
    expect(window).toMatchObject({ windowId: 'v1:1-7', count: 7 });
    // Positives are clicks unless the kind says more: 1, 3, 4, 5, 7 clicked; 3 and 7 converted.
    expect(window.ctr).toEqual({ impressions: 7, clicks: 5, conversions: 2 });
    const expected = rankingOf(
      [
        rankingAtK(scores, [2, 0, 1, 0], 2), // s1: a conversion on 0, a click on 2
        rankingAtK(scores, new Set([1]), 2), // sidebar, closed by the flush
        rankingAtK(scores, [0, 2, 0, 0], 2), // s3
      ],
      2,
    );
    expect(window.ranking!.slates).toBe(3);
    for (const key of ['precisionSum', 'recallSum', 'ndcgSum'] as const) {
      expect(window.ranking![key]).toBeCloseTo(expected[key], 12);
    }
    const seqs = [1, 2, 3, 4, 5, 6, 7];
    const squares = seqs.reduce((sum, seq) => sum + seq * seq, 0);
    expect(window.drift!.features).toEqual([
      { name: 'price', count: 7, sum: 28, sumSq: squares },
      { name: 'pos[0]', count: 7, sum: 28, sumSq: squares },
      { name: 'pos[1]', count: 7, sum: -28, sumSq: squares },
    ]);
    expect(window.drift!.prediction!.count).toBe(7);
    expect((await metrics.stats()).slates).toEqual({
      open: 0,
      evaluated: 3,
      unjudged: 1,
      evicted: 0,
      expired: 0,
      unmatched: 1,
      rankingRefused: 0,
    });
  });

  test('slate results saved with their window survive a reload; open slates do not', async () => {
    const name = uniqueName('reporter-slates-reload');
    const info = { task: 'binary' as const, ranking: { k: 1 } };
    const server = scriptedServer();
    const firstStore = await open(name);
    const first = await MetricsReporter.open(firstStore, options, info, { fetch: server.fetch });
    for (const id of ['a', 'b', 'c']) first.openSlate({ id, versionId: 'v1', scores });
    first.record({ ...outcome(1), label: 1, kind: 'conversion', slate: { id: 'a', candidate: 1 } });
    first.record({ ...outcome(2), label: 1, slate: { id: 'b', candidate: 0 } });
    first.closeSlate('a');
    await first.checkpoint(); // what the learner does before its snapshot at seq 2
    first.closeSlate('b'); // after the checkpoint: lost with the page
    first.record({ ...outcome(3), label: 1, slate: { id: 'c', candidate: 1 } });
    firstStore.close(); // the page dies with slate c open

    const store = await open(name);
    const second = await MetricsReporter.open(store, options, info, { fetch: server.fetch });
    for (let seq = 1; seq <= 3; seq++) {
      // The learner replays outcome 3: slate c is gone, so it counts as unmatched.
      second.record({ ...outcome(seq), label: 1, slate: { id: 'c', candidate: 1 } });
    }
    second.start();
    await second.flush();
    const [window] = server.batches.flatMap((batch) => batch.windows);
    expect(window).toMatchObject({
      windowId: 'v1:1-3',
      count: 3,
      ctr: { impressions: 3, clicks: 3, conversions: 1 },
      ranking: { k: 1, slates: 1, precisionSum: 1, recallSum: 1, ndcgSum: 1 },
    });
    expect((await second.stats()).slates).toMatchObject({ evaluated: 0, unmatched: 1 });
  });

  test('results with no window of their version open get one of their own, kept across a reload', async () => {
    const name = uniqueName('reporter-slate-window');
    const info = { task: 'binary' as const, ranking: { k: 1 } };
    const firstStore = await open(name);
    const first = await MetricsReporter.open(firstStore, options, info, {});
    first.openSlate({ id: 'a', versionId: 'v2', scores });
    first.record({ ...outcome(1), label: 1, slate: { id: 'a', candidate: 1 } });
    first.closeSlate('a');
    await first.checkpoint();
    firstStore.close();

    const store = await open(name);
    const second = await MetricsReporter.open(store, options, info, {});
    second.start();
    second.openSlate({ id: 'b', versionId: 'v2', scores });
    second.record({ ...outcome(2), label: 1, slate: { id: 'b', candidate: 0 } });
    await second.flush();
    const windows = await queuedWindows(store);
    expect(windows.map((w) => [w.windowId, w.versionId, w.count, w.ranking?.slates])).toEqual([
      ['v1:1-2', 'v1', 2, undefined],
      ['v2:slates-0', 'v2', 0, 2], // a, saved before the reload, and b
    ]);
    expect(windows[1].ranking).toMatchObject({ precisionSum: 1, ndcgSum: 1 }); // a: 1, b: 0
    await second.close();

    // The serial was saved: the next such window does not reuse the id.
    const again = await open(name);
    const third = await MetricsReporter.open(again, options, info, {});
    third.openSlate({ id: 'c', versionId: 'v2', scores });
    third.record({ ...outcome(3), label: 1, slate: { id: 'c', candidate: 1 } });
    await third.flush();
    expect((await queuedWindows(again)).map((w) => w.windowId)).toContain('v2:slates-1');
  });

  test('a slate that cannot be is refused with BAD_INPUT and changes nothing', async () => {
    const store = await open(uniqueName('reporter-bad-slate'));
    const metrics = await reporter(store, {});
    const failed = (() => {
      try {
        metrics.openSlate({ id: 's', versionId: 'v1', scores: [0.5, Number.NaN] });
      } catch (error) {
        return error;
      }
    })();
    expect(isLearnerError(failed) && failed.code).toBe('BAD_INPUT');
    expect((await metrics.stats()).slates).toMatchObject({ open: 0, evaluated: 0 });
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
