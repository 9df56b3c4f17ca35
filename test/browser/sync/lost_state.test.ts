// State that a device or its server lost, with a real learner reporting to the real sync
// server (127.0.0.1, embedded PGlite, through the rollout lab's proxy): the server forgot the
// install (it expires installs idle past `inactiveInstallDays`), or the outbox lost windows it
// held. Either way the learner says so with a recovery code and an event, carries on, and what
// reaches the server stays exactly once per window.
import { afterEach, describe, expect, inject, test } from 'vitest';
import type { Learner, LearnerEventMap } from '../../../src/client/index.ts';
import { openStore } from '../../../src/store/index.ts';
import { examples, Fixtures } from '../support/learners.ts';
import { seqRange, untilSync } from './helpers.ts';
import type { LabServer } from './rollout_lab.ts';
import { hasRolloutLab, newLabServer } from './rollout_lab.ts';

const fixtures = new Fixtures();
const labs: LabServer[] = [];
afterEach(async () => {
  await fixtures.cleanup();
  await Promise.all(labs.splice(0).map((lab) => lab.close()));
});

const stream = examples(30, 77);
/** Windows of five outcomes, sent as soon as one is queued. */
const syncOptions = (lab: LabServer) => ({
  url: lab.url,
  appKey: lab.appKey,
  window: { maxOutcomes: 5, maxAgeMs: 3_600_000 },
  flushIntervalMs: 200,
  flushAtQueued: 1,
  backoff: { baseMs: 50, maxMs: 400 },
});

async function observe(learner: Learner, from: number, to: number): Promise<void> {
  for (let i = from; i < to; i++)
    await learner.observe(stream[i], i % 3 === 0 ? 1 : 0, { id: `o${i}` });
}

const waitMs = () => 20_000 * inject('timeScale');

describe.runIf(hasRolloutLab)('state lost on the server or in the outbox', () => {
  test('an install the server expired: the device registers again, each window reaches it once', async () => {
    const lab = await newLabServer();
    labs.push(lab);
    const name = fixtures.storeName();
    const sync = syncOptions(lab);
    const learner = await fixtures.learner({ store: { name }, sync });
    const told: LearnerEventMap['recovery'][] = [];
    learner.on('recovery', (event) => told.push(event));

    await observe(learner, 0, 10);
    const before = await untilSync(learner, (s) => s.delivered === 2, 'two windows', waitMs());
    // Months later: the server expired the install; the device comes back to a new process.
    expect(await lab.expireInstalls()).toBe(1);

    await observe(learner, 10, 15);
    const after = await untilSync(
      learner,
      (s) => s.delivered === 3 && s.queued === 0,
      'the third window, under a new registration',
      waitMs(),
    );
    expect(after.installId).toBeDefined();
    expect(after.installId).not.toBe(before.installId);
    const recovery = {
      code: 'INSTALL_UNKNOWN',
      message: expect.stringMatching(
        new RegExp(`install ${before.installId}: registered again as ${after.installId}`),
      ),
    };
    expect(told).toEqual([expect.objectContaining(recovery)]);
    const stats = await learner.stats();
    expect(stats.recovered).toContainEqual({ ...recovery, at: expect.any(Number) });
    // The local state was not touched: still every outcome, learned once.
    expect(stats).toMatchObject({ storage: 'indexeddb', lastSeq: 15, observed: 15 });

    // The refused request, then one registration more, and the window sent again.
    const log = await lab.log();
    expect(
      log.filter((entry) => entry.path === '/v1/metrics' && entry.status === 401),
    ).toHaveLength(1);
    expect(
      log.filter((entry) => entry.path === '/v1/register' && entry.status === 201),
    ).toHaveLength(2);
    // Every window once, each under the install that sent it; none lost, none twice.
    const stored = await lab.storedWindows();
    expect(stored.map((w) => [w.installId, seqRange(w.windowId)])).toEqual(
      [
        [before.installId, [1, 5]],
        [before.installId, [6, 10]],
        [after.installId, [11, 15]],
      ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    );

    // A reload keeps the new registration.
    await learner.close();
    const reloaded = await fixtures.learner({ store: { name }, sync });
    await observe(reloaded, 15, 20);
    const later = await untilSync(reloaded, (s) => s.delivered === 4, 'a fourth window', waitMs());
    expect(later.installId).toBe(after.installId);
    const registrations = (await lab.log()).filter(
      (entry) => entry.path === '/v1/register' && entry.method === 'POST',
    );
    expect(registrations).toHaveLength(2);
    expect((await reloaded.stats()).recovered.map((r) => r.code)).not.toContain('INSTALL_UNKNOWN');
  });

  test('windows gone from the outbox are counted as dropped, and the server is told how many', async () => {
    const lab = await newLabServer();
    labs.push(lab);
    const name = fixtures.storeName();
    // Nothing is sent in the first run: the windows wait in the outbox.
    const quiet = { ...syncOptions(lab), flushAtQueued: 1000, flushIntervalMs: 3_600_000 };
    const first = await fixtures.learner({ store: { name }, sync: quiet });
    await observe(first, 0, 10);
    // The second window is queued by a write that `observe` does not wait for.
    const queued = await untilSync(first, (s) => s.queued === 2, 'two queued windows', waitMs());
    expect(queued).toMatchObject({ windows: 2, delivered: 0 });
    await first.close();

    // Its records removed behind the learner's back (an app's own clean-up of its databases, a
    // developer tool's "clear"): browsers evict whole origins, so this is the partial loss.
    const store = await openStore(name);
    await store.context.db.clear('outbox');
    store.close();

    const second = await fixtures.learner({ store: { name }, sync: syncOptions(lab) });
    const stats = await second.stats();
    expect(stats.recovered).toEqual([
      {
        code: 'OUTBOX_LOST',
        message: expect.stringContaining('2 metric window(s)'),
        at: expect.any(Number),
      },
    ]);
    expect(stats.sync).toMatchObject({ windows: 2, queued: 0, dropped: 2 });
    await observe(second, 10, 15);
    await untilSync(
      second,
      (s) => s.delivered === 1 && s.queued === 0,
      'the next window',
      waitMs(),
    );
    const stored = await lab.storedWindows();
    expect(stored.map((w) => [seqRange(w.windowId), w.dropped])).toEqual([[[11, 15], 2]]);

    // Counted once: a reload finds nothing more missing.
    await second.close();
    const third = await fixtures.learner({ store: { name }, sync: syncOptions(lab) });
    expect((await third.stats()).recovered).toEqual([]);
  });
});
