// Invariant 6 in real Chromium: several tabs (iframes, each with its own worker) share one
// learner state through one writer, and a writer that goes away is replaced without losing or
// repeating anything.
import { afterEach, describe, expect, test } from 'vitest';
import {
  examples,
  Fixtures,
  maxAbsDifference,
  readLog,
  replayReference,
  testModel,
} from '../support/learners.ts';
import type { PageReply, Tab } from '../support/tabs.ts';
import { openTab } from '../support/tabs.ts';

const fixtures = new Fixtures();
const tabs: Tab[] = [];
afterEach(async () => {
  for (const tab of tabs.splice(0)) tab.close();
  await fixtures.cleanup();
});

const probe = examples(24, 98);

async function open(store: string): Promise<Tab> {
  const tab = await openTab({ store, model: testModel.bytes, snapshotEvery: 5 });
  tabs.push(tab);
  return tab;
}

describe('several tabs, one writer', () => {
  test('three tabs observing at once end where one tab observing the union would', async () => {
    const store = fixtures.storeName();
    const pages = [await open(store), await open(store), await open(store)];
    const stream = examples(60, 12);
    const replies = await Promise.all(
      stream.map((example, i) => pages[i % 3].observe(`t${i}`, example, i % 4 === 0 ? 1 : 0)),
    );
    expect(replies.every((reply) => reply.kind === 'observed' && !reply.duplicate)).toBe(true);
    for (const tab of tabs.splice(0)) tab.close();

    const log = await readLog(store);
    expect(log.map((record) => record.clientId).sort()).toEqual(
      stream.map((_, i) => `t${i}`).sort(),
    );
    const union = await fixtures.learner({ store: { name: store } });
    expect((await union.stats()).lastSeq).toBe(60);
    const reference = await replayReference(fixtures, log, probe);
    expect(maxAbsDifference((await union.predict(probe)).scores, reference)).toBeLessThanOrEqual(
      1e-6,
    );
  });

  test('when the writer’s tab closes mid-stream, another takes over and nothing is lost or repeated', async () => {
    const store = fixtures.storeName();
    const writer = await open(store);
    const other = await open(store);
    const stream = examples(40, 13);
    const replies: Promise<PageReply>[] = [];
    for (const [i, example] of stream.entries()) {
      replies.push(other.observe(`w${i}`, example, i % 2));
      if (i === 15) writer.close(); // the owner of the state goes away, calls in flight
    }
    const settled = await Promise.all(replies);
    expect(settled.filter((reply) => reply.kind !== 'observed')).toEqual([]);
    other.close();

    const log = await readLog(store);
    expect(log.map((record) => record.clientId).sort()).toEqual(
      stream.map((_, i) => `w${i}`).sort(),
    );
    const after = await fixtures.learner({ store: { name: store } });
    const reference = await replayReference(fixtures, log, probe);
    expect(maxAbsDifference((await after.predict(probe)).scores, reference)).toBeLessThanOrEqual(
      1e-6,
    );
  });
});
