// Leader only: of several tabs on one store, only the one that owns the state reports (through
// its single reporter), and when it dies the next owner reports on, under the same install,
// without counting anything twice. Real server, through a (well-behaved) proxy.
import { afterEach, expect, test } from 'vitest';
import type { Learner } from '../../../src/client/index.ts';
import type { MetricWindow } from '../../../src/protocol/index.ts';
import { examples, Fixtures } from '../support/learners.ts';
import { hasSyncServer, newFaultProxy } from './fault_control.ts';
import { seqRange, untilSync } from './helpers.ts';

const fixtures = new Fixtures();
afterEach(() => fixtures.cleanup());

const stream = examples(20, 77);
const label = (i: number) => (i % 4 === 0 ? 1 : 0);

test.skipIf(!hasSyncServer)(
  'only the owner of the state reports; the next owner carries on',
  async () => {
    const control = await newFaultProxy();
    const sync = {
      url: control.url,
      appKey: control.appKey,
      window: { maxOutcomes: 5, maxAgeMs: 600_000 },
      flushAtQueued: 1,
      flushIntervalMs: 300,
      backoff: { baseMs: 50, maxMs: 400 },
    };
    const name = fixtures.storeName();
    const ownerWorker = fixtures.worker();
    const owner = await fixtures.learner({ worker: ownerWorker, store: { name }, sync });
    const other = await fixtures.learner({ store: { name }, sync });
    const observe = (learner: Learner, i: number) =>
      learner.observe(stream[i], label(i), { id: `o${i}` });

    for (let i = 0; i < 10; i++) await observe(i % 2 ? other : owner, i);
    const ownerStats = await owner.stats();
    const otherStats = await other.stats();
    expect([ownerStats.role, otherStats.role]).toEqual(['leader', 'follower']);
    // One reporter for both tabs: the follower's stats are the owner's.
    expect(otherStats.sync?.windows).toBe(2);
    const delivered = await untilSync(other, (s) => s.delivered === 2, 'the first two windows');

    ownerWorker.terminate(); // the owner's tab dies; the other tab takes over
    for (let i = 10; i < 20; i++) await observe(other, i);
    expect((await other.stats()).role).toBe('leader');
    const done = await untilSync(
      other,
      (s) => s.delivered === 4 && s.queued === 0 && s.openOutcomes === 0,
      'every window after the takeover',
    );

    expect(await control.installs()).toEqual([delivered.installId]); // registered once
    expect(done.installId).toBe(delivered.installId);
    const stored = await control.stored();
    expect(stored.map((row) => row.windowId.split(':')[1])).toEqual([
      '1-5',
      '11-15',
      '16-20',
      '6-10',
    ]);
    for (const row of stored) {
      const [first, last] = seqRange(row.windowId);
      const window = row.body as unknown as MetricWindow;
      expect(window.count).toBe(last - first + 1);
      const positives = Array.from({ length: window.count }, (_, k) => label(first + k - 1));
      expect(window.positives).toBe(positives.filter((y) => y === 1).length);
    }
  },
);
