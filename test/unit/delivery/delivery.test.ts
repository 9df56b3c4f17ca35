// Delivery from the outbox to a server, against an in-memory outbox and a scripted server.
import { describe, expect, test } from 'vitest';
import { Registration } from '../../../src/delivery/credentials.ts';
import type { QueuedBatch } from '../../../src/delivery/delivery.ts';
import { batchKey, Delivery } from '../../../src/delivery/delivery.ts';
import { resolveSyncOptions } from '../../../src/delivery/options.ts';
import type { MetricsBatch, MetricWindow } from '../../../src/protocol/index.ts';

class MemoryOutbox {
  items: (QueuedBatch & { nextAttemptAt: number })[] = [];
  readonly counters: Record<string, number> = {};
  add(key: string, windowIds: string[]) {
    const windows = windowIds.map((windowId) => ({ windowId, count: 1 }) as MetricWindow);
    this.items.push({ key, body: { idempotencyKey: key, windows }, attempts: 0, nextAttemptAt: 0 });
  }
  async due(limit: number, now: number) {
    return this.items.filter((item) => item.nextAttemptAt <= now).slice(0, limit);
  }
  async ack(key: string, counters: Record<string, number> = {}) {
    const before = this.items.length;
    this.items = this.items.filter((item) => item.key !== key);
    if (this.items.length === before) return false;
    for (const [name, by] of Object.entries(counters)) {
      if (by !== 0) this.counters[name] = (this.counters[name] ?? 0) + by;
    }
    return true;
  }
  async fail(key: string, nextAttemptAt: number) {
    const item = this.items.find((candidate) => candidate.key === key);
    if (item) Object.assign(item, { attempts: item.attempts + 1, nextAttemptAt });
  }
}

type Answer = { status: number; body?: unknown; headers?: Record<string, string> } | 'refuse';

/** A scripted server: answers in order (the last one repeats); records what it was sent. */
function server(script: Answer[]) {
  const seen: { path: string; body: MetricsBatch & { appKey?: string }; token?: string }[] = [];
  let registrations = 0;
  const fetch: typeof globalThis.fetch = async (url, init) => {
    const path = new URL(String(url)).pathname;
    const body = JSON.parse(String(init?.body));
    const token = (init?.headers as Record<string, string> | undefined)?.authorization?.slice(7);
    if (path === '/v1/register') {
      registrations++;
      return Response.json(
        { installId: `i${registrations}`, token: `i${registrations}.secret` },
        { status: 201 },
      );
    }
    seen.push({ path, body, token });
    const answer = script.length > 1 ? script.shift()! : script[0];
    if (answer === 'refuse') throw new TypeError('Failed to fetch');
    const reply =
      answer.body ??
      (answer.status < 300
        ? {
            idempotencyKey: body.idempotencyKey,
            windows: body.windows.length,
            stored: body.windows.length,
            duplicates: 0,
          }
        : { error: { code: 'X', message: 'x' } });
    return Response.json(reply, { status: answer.status, headers: answer.headers });
  };
  return { fetch, seen, registrations: () => registrations };
}

function setup(script: Answer[], overrides: Record<string, unknown> = {}) {
  let now = 1_000_000;
  const clock = { now: () => now, advance: (ms: number) => (now += ms) };
  const outbox = new MemoryOutbox();
  const { counters } = outbox;
  let stored: unknown;
  const fake = server(script);
  const options = resolveSyncOptions({
    url: 'http://127.0.0.1:9',
    appKey: 'app',
    maxWindowsPerRequest: 3,
    backoff: { baseMs: 1000, maxMs: 60_000 },
    ...overrides,
  });
  const registration = new Registration(
    {
      read: async () => stored,
      write: async (value) => {
        stored = value;
      },
    },
    options,
    { fetch: fake.fetch, now: clock.now },
  );
  const delivery = new Delivery({
    outbox,
    registration,
    options,
    now: clock.now,
    random: () => 0.5,
    fetch: fake.fetch,
  });
  return { delivery, outbox, counters, fake, clock, stored: () => stored };
}

describe('delivery', () => {
  test('registers once, sends due batches in requests of at most 3, acks them', async () => {
    const { delivery, outbox, counters, fake, stored } = setup([{ status: 201 }]);
    for (let i = 1; i <= 5; i++) outbox.add(`window:w${i}`, [`w${i}`]);
    await delivery.run();
    expect(outbox.items).toEqual([]);
    expect(fake.registrations()).toBe(1);
    expect(stored()).toMatchObject({ installId: 'i1', url: 'http://127.0.0.1:9', appKey: 'app' });
    expect(fake.seen.map((request) => request.body.windows.map((w) => w.windowId))).toEqual([
      ['w1', 'w2', 'w3'],
      ['w4', 'w5'],
    ]);
    expect(fake.seen.every((request) => request.token === 'i1.secret')).toBe(true);
    expect(counters.syncWindowsDelivered).toBe(5);
    expect(delivery.status).toMatchObject({ state: 'idle', consecutiveFailures: 0, requests: 3 });
  });

  test('the same batches always travel under the same key and body', async () => {
    const { delivery, outbox, fake, clock } = setup([
      { status: 500 },
      { status: 500 },
      { status: 201 },
    ]);
    outbox.add('window:a', ['a']);
    outbox.add('window:b', ['b']);
    await delivery.run();
    clock.advance(60_000);
    await delivery.run();
    clock.advance(60_000);
    await delivery.run();
    const sent = fake.seen.map(({ body: { sentAt: _sentAt, ...rest } }) => JSON.stringify(rest));
    expect(new Set(sent).size).toBe(1);
    expect(fake.seen[0].body.idempotencyKey).toBe(
      await batchKey([{ key: 'window:a' }, { key: 'window:b' }]),
    );
    expect(fake.seen[0].body.idempotencyKey).toMatch(/^batch:[0-9a-f]{40}$/);
    expect(outbox.items).toEqual([]);
  });

  test('a single batch keeps its own key', async () => {
    const { delivery, outbox, fake } = setup([{ status: 201 }]);
    outbox.add('window:only', ['only']);
    await delivery.run();
    expect(fake.seen[0].body.idempotencyKey).toBe('window:only');
  });

  test('5xx and network errors: backoff with full jitter, stored with the batches', async () => {
    const { delivery, outbox, fake, clock } = setup([{ status: 500 }, 'refuse', { status: 201 }]);
    outbox.add('window:a', ['a']);
    const start = clock.now();
    await delivery.run();
    expect(outbox.items[0]).toMatchObject({ attempts: 1, nextAttemptAt: start + 500 }); // 0.5 · 1000
    expect(delivery.status).toMatchObject({ state: 'waiting', consecutiveFailures: 1 });
    expect(delivery.status.lastError).toMatchObject({ kind: 'server', status: 500 });
    await delivery.run(); // too early: nothing is sent
    expect(fake.seen).toHaveLength(1);
    clock.advance(500);
    await delivery.run();
    expect(outbox.items[0]).toMatchObject({ attempts: 2, nextAttemptAt: clock.now() + 1000 });
    expect(delivery.status.lastError).toMatchObject({ kind: 'network' });
    clock.advance(1000);
    await delivery.run();
    expect(outbox.items).toEqual([]);
    expect(delivery.status.consecutiveFailures).toBe(0);
  });

  test('429: not before Retry-After', async () => {
    const { delivery, outbox, fake, clock } = setup([
      { status: 429, headers: { 'retry-after': '7' } },
      { status: 201 },
    ]);
    outbox.add('window:a', ['a']);
    await delivery.run();
    expect(delivery.status.notBefore).toBe(clock.now() + 7000);
    expect(delivery.status.lastError).toMatchObject({
      kind: 'rate-limited',
      code: 'X',
      status: 429,
    });
    clock.advance(6999);
    await delivery.run();
    expect(fake.seen).toHaveLength(1);
    clock.advance(1);
    await delivery.run();
    expect(fake.seen).toHaveLength(2);
    expect(outbox.items).toEqual([]);
  });

  test('a refused combined request is split, so only the bad batch is dropped (and counted)', async () => {
    const { delivery, outbox, counters, fake } = setup([
      { status: 400, body: { error: { code: 'INVALID_BODY', message: 'windows[1].count' } } },
      { status: 201 },
      { status: 400, body: { error: { code: 'INVALID_BODY', message: 'count' } } },
      { status: 201 },
    ]);
    for (const id of ['a', 'b', 'c']) outbox.add(`window:${id}`, [id]);
    await delivery.run();
    expect(fake.seen.map((request) => request.body.idempotencyKey)).toEqual([
      expect.stringMatching(/^batch:/),
      'window:a',
      'window:b',
      'window:c',
    ]);
    expect(outbox.items).toEqual([]);
    expect(counters).toEqual({
      syncWindowsDelivered: 2,
      syncWindowsRejected: 1,
      'syncWindowsRejected.INVALID_BODY': 1,
    });
    expect(delivery.status.lastRejection).toMatchObject({
      code: 'INVALID_BODY',
      status: 400,
      windows: 1,
    });
  });

  test('401 INVALID_TOKEN: forget the token, register again, resend', async () => {
    const { delivery, outbox, fake, stored } = setup([
      { status: 401, body: { error: { code: 'INVALID_TOKEN', message: 'unknown' } } },
      { status: 201 },
    ]);
    outbox.add('window:a', ['a']);
    await delivery.run();
    expect(fake.registrations()).toBe(2);
    expect(fake.seen.map((request) => request.token)).toEqual(['i1.secret', 'i2.secret']);
    expect(stored()).toMatchObject({ installId: 'i2' });
    expect(outbox.items).toEqual([]);
  });

  test('nothing due: no registration, no request', async () => {
    const { delivery, fake } = setup([{ status: 201 }]);
    await delivery.run();
    expect(fake.registrations()).toBe(0);
    expect(fake.seen).toHaveLength(0);
  });

  test('a malformed 2xx is retried, not taken as delivered', async () => {
    const { delivery, outbox } = setup([{ status: 201, body: { idempotencyKey: 'other' } }]);
    outbox.add('window:a', ['a']);
    await delivery.run();
    expect(outbox.items[0].attempts).toBe(1);
    expect(delivery.status.lastError).toMatchObject({ kind: 'bad-reply' });
  });
});

describe('damaged records', () => {
  test('a record that is not a batch is dropped as CORRUPT; the others still go', async () => {
    const { delivery, outbox, counters, fake } = setup([{ status: 201 }]);
    outbox.add('window:a', ['a']);
    outbox.items.push({
      key: 'window:junk',
      body: { nonsense: true },
      attempts: 0,
      nextAttemptAt: 0,
    });
    outbox.add('window:b', ['b']);
    await delivery.run();
    expect(fake.seen.map((request) => request.body.windows.map((w) => w.windowId))).toEqual([
      ['a', 'b'],
    ]);
    expect(outbox.items).toEqual([]);
    expect(counters).toMatchObject({ syncWindowsDelivered: 2, 'syncWindowsRejected.CORRUPT': 1 });
  });
});
