/**
 * Watching the page's main thread for long tasks in every engine. Chromium reports them itself:
 * `longtask` performance entries, any task over 50 ms. Firefox and WebKit have no `longtask`
 * entries; there a requestAnimationFrame loop measures the time between frames instead, and a
 * gap of FRAME_GAP_MS or more means the thread was kept from rendering that long. (A frame is
 * due every ~16 ms; the threshold is wide because a loaded machine delays frames with no task
 * of ours, and a frame gap also counts rendering, not only script.)
 */
export const FRAME_GAP_MS = 250;

export interface MainThreadWatch {
  /** What is measured: the browser's own long-task entries, or gaps between frames. */
  readonly signal: 'longtask' | 'frame gaps';
  /** The shortest busy stretch that is counted, in milliseconds. */
  readonly thresholdMs: number;
  /** Long tasks (or frame gaps) seen so far. */
  count(): number;
  /** Resolves at the next one seen (to prove the instrument works). */
  next(): Promise<void>;
  stop(): void;
}

export function watchMainThread(): MainThreadWatch {
  let seen = 0;
  let waiting: (() => void)[] = [];
  const record = (n: number) => {
    seen += n;
    for (const resolve of waiting.splice(0)) resolve();
  };
  const next = () => new Promise<void>((resolve) => waiting.push(resolve));

  if (PerformanceObserver.supportedEntryTypes.includes('longtask')) {
    const observer = new PerformanceObserver((list) => record(list.getEntries().length));
    observer.observe({ type: 'longtask' });
    return {
      signal: 'longtask',
      thresholdMs: 50,
      count: () => seen,
      next,
      stop: () => observer.disconnect(),
    };
  }

  let frame = 0;
  let last: number | undefined;
  const tick = (now: number) => {
    if (last !== undefined && now - last >= FRAME_GAP_MS) record(1);
    last = now;
    frame = requestAnimationFrame(tick);
  };
  frame = requestAnimationFrame(tick);
  return {
    signal: 'frame gaps',
    thresholdMs: FRAME_GAP_MS,
    count: () => seen,
    next,
    stop: () => {
      cancelAnimationFrame(frame);
      waiting = [];
    },
  };
}
