// The sync fault test (issue 5; `npm run test:sync-faults`): a real learner (in each engine) reports to
// the real reference server (127.0.0.1, embedded PGlite) through a fault proxy that in turn
// answers 500 (before and after the server stored the batch), 429 with Retry-After, hangs past
// the device's timeout (after the server stored the batch), and refuses connections — with the
// learner killed and restarted on the same store in the middle of the outage — then recovers.
// Afterwards the server must hold every window the device produced exactly once, with the
// contents the device produced, and those contents must be what an uninterrupted run computes.
import { afterEach, expect, inject, test } from 'vitest';
import type { Learner } from '../../../src/client/index.ts';
import type { MetricWindow } from '../../../src/protocol/index.ts';
import { examples, Fixtures } from '../support/learners.ts';
import type { FaultProxyHandle, ProxyEvent } from './fault_control.ts';
import { hasSyncServer, newFaultProxy } from './fault_control.ts';
import { hidePage, seqRange, untilSync } from './helpers.ts';

const fixtures = new Fixtures();
afterEach(() => fixtures.cleanup());

const METRICS = '/v1/metrics';
const REQUEST_TIMEOUT_MS = 800;
/** Small windows, a short timeout and short backoff caps, so that every phase is quick. */
const syncOptions = (control: FaultProxyHandle) => ({
  url: control.url,
  appKey: control.appKey,
  window: { maxOutcomes: 5, maxAgeMs: 4000 },
  flushIntervalMs: 300,
  flushAtQueued: 1,
  maxWindowsPerRequest: 4,
  requestTimeoutMs: REQUEST_TIMEOUT_MS,
  backoff: { baseMs: 50, maxMs: 400 },
});
// A gentle learning rate keeps predictions away from 0 and 1, so that the reference below can
// recompute each loss from a (float32) prediction.
const head = { optimizer: { kind: 'sgd', schedule: 'constant', eta0: 0.02 } } as const;
const stream = examples(90, 2024);
const label = (i: number) => (i % 3 === 0 ? 1 : 0);

/** Streams the next `count` outcomes (ids o0, o1, …: seq = index + 1 on a fresh store). */
let next = 0;
async function observe(learner: Learner, count: number): Promise<void> {
  for (const end = next + count; next < end; next++) {
    await learner.observe(stream[next], label(next), { id: `o${next}` });
  }
}

const windowsOf = (event: ProxyEvent) =>
  (event.body as { windows?: MetricWindow[] })?.windows ?? [];

test.skipIf(!hasSyncServer)(
  'every window reaches the server exactly once through faults, an outage and a reload',
  {
    timeout: 240_000 * inject('timeScale'),
  },
  async () => {
    const name = fixtures.storeName();
    const control = await newFaultProxy();
    const sync = syncOptions(control);

    // Healthy: register, report.
    const worker = fixtures.worker();
    const first = await fixtures.learner({ worker, head, store: { name, snapshotEvery: 7 }, sync });
    await observe(first, 12);
    await control.wait({ path: METRICS, outcome: 'forwarded', status: 201, count: 1 });

    // 500 from a server that stored nothing.
    let since = await control.mode({ kind: 'status', status: 500 });
    await observe(first, 10);
    const plain500 = await control.wait({
      path: METRICS,
      outcome: 'faulted',
      status: 500,
      since,
      count: 3,
    });

    // 500 from a server that stored the batch: the answer is lost, the retry must not double it.
    since = await control.mode({ kind: 'status', status: 500, forward: true });
    await observe(first, 8);
    const stored500 = await control.wait({
      path: METRICS,
      outcome: 'faulted',
      status: 500,
      since,
      count: 2,
    });

    // 429 with Retry-After: 1 — the device must wait at least a second between attempts.
    since = await control.mode({ kind: 'status', status: 429, retryAfter: 1 });
    await observe(first, 6);
    const limited = await control.wait({
      path: METRICS,
      outcome: 'faulted',
      status: 429,
      since,
      count: 3,
    });
    const gaps = limited.slice(1).map((event, i) => event.at - limited[i].at);

    // Hangs past the device's timeout, after the server stored the batch.
    since = await control.mode({ kind: 'hang' });
    await observe(first, 7);
    const aborted = await control.wait({ path: METRICS, outcome: 'aborted', since, count: 2 });
    // How long the device held on to each hung request: from its arrival to the device's abort.
    const hangs = aborted.map((event) => event.at - event.receivedAt);

    // Down: connection refused. Then a reload in the middle of the outage: the worker is killed
    // (no flush, no close) the moment the outcome that closes a window (seq 50) is acknowledged,
    // while the reporter is still saving and queuing that window; a new learner opens the store.
    await control.mode({ kind: 'down' });
    const before = (await first.stats()).sync!.failures;
    await observe(first, 4);
    const refusedBefore = await untilSync(
      first,
      (s) => s.lastError?.kind === 'network' && s.failures > before + 1,
      'refused connections',
    );
    await observe(first, 50 - next);
    worker.terminate();
    const second = await fixtures.learner({ head, store: { name, snapshotEvery: 7 }, sync });
    await observe(second, 8);
    const refusedAfter = await untilSync(
      second,
      (s) => s.lastError?.kind === 'network' && s.failures > 1,
      'refused connections after the reload',
    );

    // Recovery: the last outcomes, then the page hides (flush: close the open window and send).
    await control.mode({ kind: 'pass' });
    await observe(second, 15);
    hidePage();
    const done = await untilSync(
      second,
      (s) =>
        s.openOutcomes === 0 && s.queued === 0 && s.state === 'idle' && s.delivered >= s.windows,
      'everything delivered',
      30_000,
    );
    const stats = await second.stats();

    // What the device produced: every window it sent (a window's content never changes between
    // attempts) — and their number must be the number it closed.
    const sent = new Map<string, Set<string>>();
    const reachedServer = new Map<string, number>();
    const log = await control.events(METRICS);
    for (const event of log) {
      for (const window of windowsOf(event)) {
        const bodies = sent.get(window.windowId) ?? new Set();
        bodies.add(JSON.stringify(window));
        sent.set(window.windowId, bodies);
        if (event.upstream?.status === 201) {
          reachedServer.set(window.windowId, (reachedServer.get(window.windowId) ?? 0) + 1);
        }
      }
    }
    const produced = new Map(
      [...sent].map(([id, bodies]) => [id, JSON.parse([...bodies][0]) as MetricWindow]),
    );

    // What the server stored, read from its database.
    const stored = await control.stored();
    const storedIds = new Set(stored.map((row) => row.windowId));

    // Outcome accounting from the window ids (`<version>:<first seq>-<last seq>`).
    const covered = new Array<number>(stats.lastSeq + 1).fill(0);
    for (const row of stored) {
      const [firstSeq, lastSeq] = seqRange(row.windowId);
      for (let seq = firstSeq; seq <= lastSeq; seq++) covered[seq]++;
    }
    const outcomesTwice = covered.filter((times) => times > 1).length;
    const outcomesMissing = covered.slice(1).filter((times) => times === 0).length;

    const duplicates = stored.length - storedIds.size + outcomesTwice;
    const lost =
      done.windows -
      stored.length +
      [...produced.keys()].filter((id) => !storedIds.has(id)).length +
      outcomesMissing;
    const retriedAfterStored = [...reachedServer.values()].filter((times) => times > 1).length;
    const replays = log.filter((event) => event.upstream?.replayed).length;
    console.log(
      `faults: 500 (nothing stored) ×${plain500.length}, 500 (stored) ×${stored500.length}, ` +
        `429 ×${limited.length} (gaps ${gaps.join('/')} ms for Retry-After 1 s), ` +
        `hung ×${aborted.length} (abandoned after ${hangs.join('/')} ms), ` +
        `refused ×${refusedBefore.failures - before} before and ×${refusedAfter.failures} after the reload ` +
        `(${stats.replayed} outcomes replayed); requests ${log.length}, ` +
        `windows re-sent after the server stored them ${retriedAfterStored}, idempotent replays ${replays}`,
    );
    console.log(
      `windows=${done.windows} stored=${stored.length} duplicates=${duplicates} lost=${lost}`,
    );

    // The faults happened as intended.
    expect(
      gaps.every((gap) => gap >= 950),
      `429 gaps ${gaps.join('/')} ms`,
    ).toBe(true); // Retry-After: 1 honoured
    expect(aborted).toHaveLength(2);
    expect(retriedAfterStored).toBeGreaterThan(0); // the server's dedupe was exercised
    // The device's timer starts when it sends, the proxy's when the request arrives, so the proxy
    // sees the timeout less the request's way there. That way can take hundreds of milliseconds in
    // a loaded engine (Firefox took up to 124 ms on a quiet machine; a CI run failed this test,
    // most likely at the earlier bound of 600 ms), so the lower bound only catches a timeout off
    // by a factor (a unit slip, a missing timer) and the upper one a device that never gives up.
    expect(
      hangs.every((ms) => ms >= REQUEST_TIMEOUT_MS / 2 && ms < REQUEST_TIMEOUT_MS + 2000),
      `hung requests held ${hangs.join('/')} ms`,
    ).toBe(true);
    expect(stats.replayed).toBeGreaterThan(0); // the reload replayed outcomes into the reporter

    // Exactly once, same contents.
    expect(stats.lastSeq).toBe(next);
    expect(duplicates).toBe(0);
    expect(lost).toBe(0);
    expect(await control.installs()).toEqual([done.installId]); // registered once, reload or not
    expect(new Set(stored.map((row) => row.installId))).toEqual(new Set([done.installId]));
    expect(storedIds).toEqual(new Set(produced.keys()));
    for (const bodies of sent.values()) expect(bodies.size).toBe(1);
    for (const row of stored) expect(row.body).toEqual(produced.get(row.windowId));
    expect(done).toMatchObject({ rejected: 0, dropped: 0, queued: 0 });
    // (A page that dies between queuing a window and saving that it did re-sends it: counted
    // twice here, stored once there.)
    expect(done.delivered).toBeGreaterThanOrEqual(done.windows);

    // And the contents are what an uninterrupted run computes: a fresh in-memory learner, fed the
    // same outcomes, scored before each one.
    const reference = await fixtures.learner({ head, store: { name: false } });
    const losses: number[] = [0];
    for (let i = 0; i < next; i++) {
      const p = (await reference.predict(stream[i])).score;
      losses.push(label(i) === 1 ? -Math.log(p) : -Math.log(1 - p));
      await reference.observe(stream[i], label(i), { id: `o${i}` });
    }
    for (const row of stored) {
      const window = row.body as unknown as MetricWindow;
      const [firstSeq, lastSeq] = seqRange(row.windowId);
      const seqs = Array.from({ length: lastSeq - firstSeq + 1 }, (_, k) => firstSeq + k);
      expect(window.count).toBe(seqs.length);
      expect(window.positives).toBe(seqs.filter((seq) => label(seq - 1) === 1).length);
      const expected = seqs.reduce((sum, seq) => sum + losses[seq], 0);
      expect(window.loglossSum).toBeCloseTo(expected, 4);
      const sketched = [...window.auc!.positive, ...window.auc!.negative].reduce(
        (a, b) => a + b,
        0,
      );
      expect(sketched).toBe(window.count);
    }
  },
);
