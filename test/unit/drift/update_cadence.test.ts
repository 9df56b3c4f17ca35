/**
 * The update cadence (src/runtime/update_cadence.ts) with a fake clock: per event by default,
 * buffered with a size and a time trigger, flush and dispose. (It lives in src/runtime; the
 * test sits with the drift policy it was built beside.)
 */
import { describe, expect, test } from 'vitest';
import { isLearnerError } from '../../../src/errors.ts';
import {
  type CadenceClock,
  type CadenceOptions,
  type CadenceReason,
  UpdateCadence,
} from '../../../src/runtime/update_cadence.ts';

/** A clock whose time moves only when told, running the timers that fall due on the way. */
class FakeClock implements CadenceClock {
  time = 0;
  private timers = new Map<number, { at: number; callback: () => void }>();
  private next = 1;

  now(): number {
    return this.time;
  }

  setTimer(callback: () => void, ms: number): unknown {
    const id = this.next++;
    this.timers.set(id, { at: this.time + ms, callback });
    return id;
  }

  clearTimer(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  get armed(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, firing due timers in order. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      let due: [number, { at: number; callback: () => void }] | undefined;
      for (const entry of this.timers) {
        if (entry[1].at <= end && (!due || entry[1].at < due[1].at)) due = entry;
      }
      if (!due) break;
      this.timers.delete(due[0]);
      this.time = due[1].at;
      due[1].callback();
    }
    this.time = end;
  }

  /** Moves time without firing timers: a throttled background tab. */
  skip(ms: number): void {
    this.time += ms;
  }
}

function setup(options: CadenceOptions) {
  const clock = new FakeClock();
  const calls: { items: number[]; reason: CadenceReason; at: number }[] = [];
  const cadence = new UpdateCadence<number>(
    options,
    (items, reason) => calls.push({ items, reason, at: clock.now() }),
    { clock },
  );
  return { clock, calls, cadence };
}

function expectCode(fn: () => unknown, code: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(isLearnerError(caught) && caught.code).toBe(code);
}

test('per event (the default mode): each outcome is learned at once, alone, and no timer is used', () => {
  const { clock, calls, cadence } = setup({ mode: 'event' });
  cadence.push(1);
  cadence.push(2);
  expect(calls).toEqual([
    { items: [1], reason: 'event', at: 0 },
    { items: [2], reason: 'event', at: 0 },
  ]);
  expect(cadence.pending).toBe(0);
  expect(clock.armed).toBe(0);
});

describe('buffered: "50 outcomes or 1 minute"', () => {
  test('the size trigger releases exactly 50, in order, and cancels the timer', () => {
    const { clock, calls, cadence } = setup({ mode: 'buffered' });
    for (let i = 0; i < 49; i++) {
      clock.advance(100);
      cadence.push(i);
    }
    expect(calls).toEqual([]);
    expect(cadence.pending).toBe(49);
    expect(clock.armed).toBe(1);
    cadence.push(49);
    expect(calls).toEqual([
      { items: Array.from({ length: 50 }, (_, i) => i), reason: 'size', at: 4900 },
    ]);
    expect(cadence.pending).toBe(0);
    expect(clock.armed).toBe(0);
    clock.advance(120_000);
    expect(calls.length).toBe(1);
  });

  test('the time trigger releases a partial buffer 60 s after its oldest outcome', () => {
    const { clock, calls, cadence } = setup({ mode: 'buffered', maxItems: 50, maxDelayMs: 60_000 });
    clock.advance(1000);
    cadence.push(1);
    clock.advance(30_000);
    cadence.push(2);
    cadence.push(3);
    expect(cadence.oldestPendingAt).toBe(1000);
    clock.advance(29_999);
    expect(calls).toEqual([]);
    clock.advance(1);
    expect(calls).toEqual([{ items: [1, 2, 3], reason: 'time', at: 61_000 }]);
    // The next buffer's delay counts from its own first outcome.
    clock.advance(5000);
    cadence.push(4);
    clock.advance(59_999);
    expect(calls.length).toBe(1);
    clock.advance(1);
    expect(calls[1]).toEqual({ items: [4], reason: 'time', at: 126_000 });
  });

  test('a throttled timer: the next push releases the overdue outcomes first, then starts a new buffer', () => {
    const { clock, calls, cadence } = setup({ mode: 'buffered', maxItems: 10, maxDelayMs: 1000 });
    cadence.push(1);
    cadence.push(2);
    clock.skip(5000); // the timer did not run
    cadence.push(3);
    expect(calls).toEqual([{ items: [1, 2], reason: 'time', at: 5000 }]);
    expect(cadence.pending).toBe(1);
    expect(cadence.oldestPendingAt).toBe(5000);
    expect(clock.armed).toBe(1);
  });

  test('size only (maxDelayMs Infinity) never arms a timer; time only (maxItems Infinity) never counts', () => {
    const sizeOnly = setup({ mode: 'buffered', maxItems: 3, maxDelayMs: Number.POSITIVE_INFINITY });
    for (let i = 0; i < 7; i++) sizeOnly.cadence.push(i);
    sizeOnly.clock.advance(1e9);
    expect(sizeOnly.calls.map((c) => c.items)).toEqual([
      [0, 1, 2],
      [3, 4, 5],
    ]);
    expect(sizeOnly.clock.armed).toBe(0);
    const timeOnly = setup({
      mode: 'buffered',
      maxItems: Number.POSITIVE_INFINITY,
      maxDelayMs: 10,
    });
    for (let i = 0; i < 500; i++) timeOnly.cadence.push(i);
    expect(timeOnly.calls).toEqual([]);
    timeOnly.clock.advance(10);
    expect(timeOnly.calls[0].items.length).toBe(500);
  });

  test('flush releases what is pending now; an empty flush does nothing', () => {
    const { clock, calls, cadence } = setup({ mode: 'buffered' });
    cadence.flush();
    expect(calls).toEqual([]);
    cadence.push(7);
    cadence.push(8);
    cadence.flush();
    expect(calls).toEqual([{ items: [7, 8], reason: 'flush', at: 0 }]);
    expect(clock.armed).toBe(0);
  });

  test('dispose cancels the timer and hands back the unlearned outcomes; a later push is CLOSED', () => {
    const { clock, calls, cadence } = setup({ mode: 'buffered' });
    cadence.push(1);
    cadence.push(2);
    expect(cadence.dispose()).toEqual([1, 2]);
    expect(clock.armed).toBe(0);
    clock.advance(120_000);
    expect(calls).toEqual([]);
    expectCode(() => cadence.push(3), 'CLOSED');
  });
});

describe('when learning fails', () => {
  test('the buffer is handed over once: an error propagates from push, and nothing is re-sent', () => {
    const clock = new FakeClock();
    const seen: number[][] = [];
    const cadence = new UpdateCadence<number>(
      { mode: 'buffered', maxItems: 2 },
      (items) => {
        seen.push(items);
        throw new Error('learn failed');
      },
      { clock },
    );
    cadence.push(1);
    expect(() => cadence.push(2)).toThrow('learn failed');
    expect(cadence.pending).toBe(0);
    cadence.flush();
    expect(seen).toEqual([[1, 2]]);
  });

  test('from the time trigger, the error goes to onError', () => {
    const clock = new FakeClock();
    const errors: unknown[] = [];
    const cadence = new UpdateCadence<number>(
      { mode: 'buffered', maxDelayMs: 10 },
      () => {
        throw new Error('learn failed');
      },
      { clock, onError: (error) => errors.push(error) },
    );
    cadence.push(1);
    clock.advance(10);
    expect(errors.map((e) => (e as Error).message)).toEqual(['learn failed']);
    expect(cadence.pending).toBe(0);
  });
});

test.each<[string, CadenceOptions]>([
  ['an unknown mode', { mode: 'sometimes' } as never],
  ['maxItems 0', { mode: 'buffered', maxItems: 0 }],
  ['maxItems 2.5', { mode: 'buffered', maxItems: 2.5 }],
  ['maxDelayMs 0', { mode: 'buffered', maxDelayMs: 0 }],
  ['maxDelayMs NaN', { mode: 'buffered', maxDelayMs: Number.NaN }],
  [
    'no trigger at all',
    { mode: 'buffered', maxItems: Number.POSITIVE_INFINITY, maxDelayMs: Number.POSITIVE_INFINITY },
  ],
])('%s: BAD_CONFIG', (_name, options) => {
  expectCode(() => new UpdateCadence(options, () => {}), 'BAD_CONFIG');
});
