// Helpers shared by the sync browser tests.
import type { Learner } from '../../../src/client/index.ts';
import type { SyncStats } from '../../../src/reporting/sync_stats.ts';

/**
 * Polls the learner's stats until `done` holds, at most `timeoutMs`. Only for delivery progress
 * that nothing announces: the learner has no delivery event, and a refused connection never
 * reaches the fault proxy (whose own events the tests await without polling).
 */
export async function untilSync(
  learner: Learner,
  done: (sync: SyncStats) => boolean,
  what: string,
  timeoutMs = 20_000,
): Promise<SyncStats> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const stats = (await learner.stats()).sync;
    if (stats && done(stats)) return stats;
    if (performance.now() > deadline) {
      throw new Error(`timed out waiting for ${what}: ${JSON.stringify(stats)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The page is hidden, as a browser would say it: every learner on it flushes (client/learner.ts). */
export function hidePage(): void {
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
  document.dispatchEvent(new Event('visibilitychange'));
  delete (document as { visibilityState?: unknown }).visibilityState; // the prototype's again
}

/** The log positions a window id covers (`<version>:<first>-<last>`). */
export function seqRange(windowId: string): [number, number] {
  const [first, last] = windowId
    .slice(windowId.lastIndexOf(':') + 1)
    .split('-')
    .map(Number);
  return [first, last];
}
