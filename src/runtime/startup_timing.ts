/**
 * Where a learner's start goes. Each phase of `DurableLearner.open` is timed once: kept for
 * `stats().startup`, and a `performance.measure` named `localfit:<phase>` so it shows in the
 * browser's performance panel. Times are on the epoch clock (`performance.timeOrigin + now()`),
 * so the page can place them on its own clock: a worker's time origin is not the page's.
 * A dozen entries, once per start: nothing on the hot path.
 *
 * bench/startup.ts reads them to break "createLearner → first predict" down.
 */

/** One phase of the start, in epoch milliseconds. */
export interface StartupPhase {
  name: string;
  start: number;
  end: number;
}

const epochNow = () => performance.timeOrigin + performance.now();

/** When the worker's module graph was evaluated: the end of "worker start". */
export const SCRIPT_EVALUATED_AT = epochNow();

export class StartupTiming {
  readonly phases: StartupPhase[] = [
    { name: 'worker script', start: performance.timeOrigin, end: SCRIPT_EVALUATED_AT },
  ];

  /** Runs `task` as the phase `name`. */
  async time<T>(name: string, task: () => Promise<T>): Promise<T> {
    const start = performance.now();
    try {
      return await task();
    } finally {
      const end = performance.now();
      this.phases.push({
        name,
        start: performance.timeOrigin + start,
        end: performance.timeOrigin + end,
      });
      performance.measure(`localfit:${name}`, { start, end });
    }
  }

  /** The phases, with the fetch of onnxruntime's wasm as the browser's resource timing saw it. */
  report(): StartupPhase[] {
    const wasm = performance
      .getEntriesByType('resource')
      .filter((entry) => new URL(entry.name).pathname.endsWith('.wasm'))
      .map((entry) => ({
        name: 'wasm fetch',
        start: performance.timeOrigin + entry.startTime,
        end: performance.timeOrigin + (entry as PerformanceResourceTiming).responseEnd,
      }));
    return [...this.phases, ...wasm.slice(0, 1)];
  }
}
