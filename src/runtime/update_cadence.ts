/**
 * When the head learns the outcomes it is given: at once, one by one (the default), or in
 * buffers released by a size or a time trigger (the seeds' "buffer 50 ratings or 1 minute"),
 * whichever comes first. It decides *when* and hands the caller *which* items; it never
 * learns or stores anything itself (no IndexedDB: the outcome log already holds every item
 * durably, so a crash loses nothing the caller cannot replay).
 *
 * Modes:
 * - `{ mode: 'event' }` (default): every {@link UpdateCadence.push} calls `learn([item])`
 *   synchronously, reason 'event'. Best accuracy on a drifting stream (see
 *   `models/cli/prequential.ts`, `--batch`): a prediction never waits for labels.
 * - `{ mode: 'buffered', maxItems, maxDelayMs }`: items wait in a buffer; the buffer is
 *   released, in arrival order, when it holds `maxItems` (reason 'size', default 50) or when
 *   `maxDelayMs` (default 60,000) have passed since its *oldest* item arrived (reason
 *   'time'). `maxItems: 1` is the per-event mode. Either trigger may be switched off with
 *   `Infinity`, not both. Buffering trades freshness for fewer, larger updates (fewer
 *   snapshots and messages on a busy device).
 *
 * The time trigger is checked two ways, so it holds even where timers are throttled (a
 * background tab): a timer armed when the buffer's first item arrives, and on every push,
 * against the clock. {@link UpdateCadence.flush} releases the buffer now (reason 'flush'), e.g.
 * when the page hides or before a snapshot; {@link UpdateCadence.dispose} cancels the timer
 * and hands back what was still pending without learning it.
 *
 * The buffer is emptied *before* `learn` is called, so an item is handed over exactly once
 * even if `learn` throws; an error thrown by `learn` propagates out of `push`/`flush`, and
 * from the timer goes to `onError` (without one, it is rethrown, i.e. uncaught).
 *
 * The clock is injectable ({@link CadenceClock}) so the triggers can be tested without
 * waiting.
 *
 * ```ts
 * import { UpdateCadence } from './update_cadence.ts';
 * const cadence = new UpdateCadence<number>(
 *   { mode: 'buffered', maxItems: 3, maxDelayMs: 60_000 },
 *   (items, reason) => console.log(reason, items),
 * );
 * for (const rating of [5, 3, 4, 1]) cadence.push(rating); // size [5, 3, 4]
 * cadence.flush(); // flush [1]
 * cadence.dispose();
 * ```
 */
import { LearnerError } from '../errors.ts';

export type CadenceOptions =
  | { mode: 'event' }
  | {
      mode: 'buffered';
      /** Release the buffer when it holds this many items (default 50). */
      maxItems?: number;
      /** …or this many milliseconds after its oldest item arrived (default 60,000). */
      maxDelayMs?: number;
    };

export type CadenceReason = 'event' | 'size' | 'time' | 'flush';

/** Time and timers; the default uses `Date.now` and the global `setTimeout`. */
export interface CadenceClock {
  now(): number;
  setTimer(callback: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

export const SYSTEM_CLOCK: CadenceClock = {
  now: () => Date.now(),
  setTimer: (callback, ms) => setTimeout(callback, ms),
  clearTimer: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export const DEFAULT_BUFFER = { maxItems: 50, maxDelayMs: 60_000 } as const;

export interface CadenceExtras {
  clock?: CadenceClock;
  /** Receives an error thrown by `learn` when the time trigger called it. */
  onError?: (error: unknown) => void;
}

function fail(why: string): never {
  throw new LearnerError('BAD_CONFIG', `update cadence: ${why}`);
}

export class UpdateCadence<T> {
  readonly maxItems: number;
  readonly maxDelayMs: number;
  private readonly clock: CadenceClock;
  private readonly onError: ((error: unknown) => void) | undefined;
  private buffer: T[] = [];
  private oldestAt = 0;
  private timer: unknown;
  private armed = false;
  private disposed = false;

  private readonly learn: (items: T[], reason: CadenceReason) => void;
  constructor(
    options: CadenceOptions,
    learn: (items: T[], reason: CadenceReason) => void,
    extras: CadenceExtras = {},
  ) {
    this.learn = learn;
    if (typeof options !== 'object' || options === null) fail('options must be an object');
    if (typeof learn !== 'function') fail('learn must be a function');
    if (options.mode === 'event') {
      this.maxItems = 1;
      this.maxDelayMs = Number.POSITIVE_INFINITY;
    } else if (options.mode === 'buffered') {
      const maxItems = options.maxItems ?? DEFAULT_BUFFER.maxItems;
      const maxDelayMs = options.maxDelayMs ?? DEFAULT_BUFFER.maxDelayMs;
      if (!(maxItems === Number.POSITIVE_INFINITY || (Number.isInteger(maxItems) && maxItems >= 1)))
        fail(`maxItems must be a positive integer or Infinity, got ${String(maxItems)}`);
      if (typeof maxDelayMs !== 'number' || Number.isNaN(maxDelayMs) || maxDelayMs <= 0)
        fail(`maxDelayMs must be > 0 (or Infinity), got ${String(maxDelayMs)}`);
      if (maxItems === Number.POSITIVE_INFINITY && maxDelayMs === Number.POSITIVE_INFINITY)
        fail('a buffer needs a size or a time trigger');
      this.maxItems = maxItems;
      this.maxDelayMs = maxDelayMs;
    } else {
      fail(
        `mode must be 'event' or 'buffered', got ${String((options as { mode?: unknown }).mode)}`,
      );
    }
    this.clock = extras.clock ?? SYSTEM_CLOCK;
    this.onError = extras.onError;
  }

  /** Items waiting to be learned. */
  get pending(): number {
    return this.buffer.length;
  }

  /** When the oldest pending item arrived (clock milliseconds), or null if none is pending. */
  get oldestPendingAt(): number | null {
    return this.buffer.length > 0 ? this.oldestAt : null;
  }

  /** Adds an outcome; learns at once, or when a trigger fires (maybe this very call). */
  push(item: T): void {
    if (this.disposed) throw new LearnerError('CLOSED', 'the update cadence was disposed');
    if (this.maxItems === 1) {
      this.learn([item], this.maxDelayMs === Number.POSITIVE_INFINITY ? 'event' : 'size');
      return;
    }
    const now = this.clock.now();
    // A timer that should have fired already (throttled): release the old items on their own,
    // so the new one starts the next buffer and its own delay.
    if (this.buffer.length > 0 && now - this.oldestAt >= this.maxDelayMs) this.release('time');
    if (this.buffer.length === 0) {
      this.oldestAt = now;
      this.arm();
    }
    this.buffer.push(item);
    if (this.buffer.length >= this.maxItems) this.release('size');
  }

  /** Learns whatever is pending now (nothing happens if nothing is). */
  flush(): void {
    if (this.buffer.length > 0) this.release('flush');
  }

  /** Stops the timer; returns the items that were still pending, unlearned. */
  dispose(): T[] {
    this.disarm();
    this.disposed = true;
    const left = this.buffer;
    this.buffer = [];
    return left;
  }

  private release(reason: CadenceReason): void {
    this.disarm();
    const items = this.buffer;
    this.buffer = [];
    this.learn(items, reason);
  }

  private arm(): void {
    if (this.maxDelayMs === Number.POSITIVE_INFINITY) return;
    this.armed = true;
    this.timer = this.clock.setTimer(() => this.fire(), this.maxDelayMs);
  }

  private disarm(): void {
    if (!this.armed) return;
    this.armed = false;
    this.clock.clearTimer(this.timer);
    this.timer = undefined;
  }

  private fire(): void {
    this.armed = false;
    this.timer = undefined;
    if (this.disposed || this.buffer.length === 0) return;
    try {
      this.release('time');
    } catch (error) {
      if (!this.onError) throw error;
      this.onError(error);
    }
  }
}
