/// <reference lib="webworker" />
// Counts the timer callbacks that run in this worker (setTimeout and setInterval, each firing
// one wake-up), for bench/idle.ts. Imported before the learner's worker module, so every
// timer the learner sets goes through it. Answers `count` on a BroadcastChannel.
const fired: Record<string, number> = {};
const realTimeout = globalThis.setTimeout;
const realInterval = globalThis.setInterval;
const where = () => (new Error().stack ?? '').split('\n')[3]?.trim() ?? 'unknown';

function counted(callback: unknown, site: string) {
  return (...args: unknown[]) => {
    fired[site] = (fired[site] ?? 0) + 1;
    if (typeof callback === 'function') callback(...args);
  };
}

globalThis.setTimeout = ((callback: unknown, ms?: number, ...args: unknown[]) =>
  realTimeout(counted(callback, where()), ms, ...args)) as typeof setTimeout;
globalThis.setInterval = ((callback: unknown, ms?: number, ...args: unknown[]) =>
  realInterval(counted(callback, where()), ms, ...args)) as typeof setInterval;

new BroadcastChannel('localfit-bench-timers').onmessage = (event) => {
  if (event.data === 'count') {
    new BroadcastChannel('localfit-bench-timers').postMessage({ fired: { ...fired } });
  }
};
