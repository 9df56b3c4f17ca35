/**
 * The scheduler's sense of time, injected so that tests drive it by hand: `now()` and one-shot
 * timers. The system clock is the real thing; `ManualClock` only moves when told to, firing
 * the timers that fall due in time order, so a test can say "an hour passes" without waiting.
 */

export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /** Calls `fn` once, `ms` from now. */
  setTimer(fn: () => void, ms: number): TimerHandle;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    const timer = setTimeout(fn, Math.max(0, ms));
    // A pending tick must not keep a stopping process alive.
    timer.unref?.();
    return { cancel: () => clearTimeout(timer) };
  },
};

interface PendingTimer {
  at: number;
  order: number;
  fn: () => void;
}

export class ManualClock implements Clock {
  private time: number;
  private order = 0;
  private readonly timers = new Set<PendingTimer>();

  constructor(start: number) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  setTimer(fn: () => void, ms: number): TimerHandle {
    const timer = { at: this.time + Math.max(0, ms), order: this.order++, fn };
    this.timers.add(timer);
    return { cancel: () => this.timers.delete(timer) };
  }

  /** Timers still to fire. */
  get pending(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, firing every timer that falls due, earliest first. */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError('time only moves forward');
    const target = this.time + ms;
    for (;;) {
      let next: PendingTimer | undefined;
      for (const timer of this.timers)
        if (
          timer.at <= target &&
          (!next || timer.at < next.at || (timer.at === next.at && timer.order < next.order))
        )
          next = timer;
      if (!next) break;
      this.timers.delete(next);
      this.time = Math.max(this.time, next.at);
      next.fn();
    }
    this.time = target;
  }
}
