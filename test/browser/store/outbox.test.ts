// The metrics outbox and device metadata.
import { afterEach, describe, expect, test } from 'vitest';
import { isStoreError } from '../../../src/store/index.ts';
import { cleanup, fakeClock, open, uniqueName } from './helpers.ts';

afterEach(cleanup);

describe('outbox', () => {
  test('due batches come in enqueue order; failed ones wait; acked ones leave', async () => {
    const clock = fakeClock(1000);
    const store = await open(uniqueName('outbox'), { now: clock.now });
    for (const key of ['a', 'b', 'c']) {
      await store.outbox.enqueue(key, { key, windows: [1, 2, 3] });
      clock.tick();
    }
    expect((await store.outbox.due()).map((item) => item.key)).toEqual(['a', 'b', 'c']);
    expect((await store.outbox.due(2)).map((item) => item.key)).toEqual(['a', 'b']);

    const failed = await store.outbox.fail('a', clock.now() + 500);
    expect(failed).toMatchObject({ key: 'a', attempts: 1 });
    expect((await store.outbox.due()).map((item) => item.key)).toEqual(['b', 'c']);
    expect(await store.outbox.nextAttemptAt()).toBe(1001);

    expect(await store.outbox.ack('b')).toBe(true);
    expect(await store.outbox.ack('b')).toBe(false);
    clock.tick(500);
    expect((await store.outbox.due()).map((item) => item.key)).toEqual(['a', 'c']);
    expect((await store.outbox.due())[1].body).toEqual({ key: 'c', windows: [1, 2, 3] });
    expect((await store.meta.usage()).outbox.count).toBe(2);
  });

  test('an idempotency key is queued once', async () => {
    const store = await open(uniqueName('outbox-dup'));
    const first = await store.outbox.enqueue('k', { n: 1 });
    expect(await store.outbox.enqueue('k', { n: 2 })).toEqual({ id: first.id, duplicate: true });
    expect(await store.outbox.count()).toBe(1);
    const empty = await store.outbox.enqueue('', {}).catch((e: unknown) => e);
    expect(isStoreError(empty, 'BAD_RECORD')).toBe(true);
  });

  test('the outbox is bounded: the oldest batches are dropped and counted', async () => {
    const store = await open(uniqueName('outbox-cap'), { limits: { maxOutbox: 3 } });
    for (let i = 1; i <= 7; i++) await store.outbox.enqueue(`k${i}`, { i });
    expect((await store.outbox.due()).map((item) => item.key)).toEqual(['k5', 'k6', 'k7']);
    const stats = await store.stats();
    expect(stats.outboxDropped).toBe(4);
    expect(stats.usage.outbox.count).toBe(3);
  });

  test('the outbox survives a reload', async () => {
    const name = uniqueName('outbox-reload');
    const first = await open(name);
    await first.outbox.enqueue('k1', { i: 1 });
    await first.outbox.fail('k1', 42);
    first.close();
    const second = await open(name);
    expect(await second.outbox.nextAttemptAt()).toBe(42);
    expect((await second.outbox.due(10, 42))[0]).toMatchObject({ key: 'k1', attempts: 1 });
  });
});

describe('meta', () => {
  test('counters and rollout buckets persist', async () => {
    const name = uniqueName('meta');
    const first = await open(name);
    expect(await first.meta.bump('custom')).toBe(1);
    expect(await first.meta.bump('custom', 4)).toBe(5);
    await first.meta.setBucket('rollout-7', 0.42);
    const bad = await first.meta.setBucket('rollout-8', 1).catch((e: unknown) => e);
    expect(isStoreError(bad, 'BAD_RECORD')).toBe(true);
    first.close();
    const second = await open(name);
    expect(await second.meta.counter('custom')).toBe(5);
    expect(await second.meta.bucket('rollout-7')).toBe(0.42);
    expect(await second.meta.bucket('rollout-8')).toBeUndefined();
  });
});
