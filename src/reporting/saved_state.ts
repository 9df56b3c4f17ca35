/**
 * The reporter's durable state, as the store's meta keeps it (`syncReporter`; reporter.ts's
 * header says when it is written and why nothing is counted twice or lost), the outbox key of a
 * window, and the check for windows removed from the outbox behind the reporter's back.
 */

import { isContribution } from '../delivery/contributions.ts';
import { DELIVERY_COUNTERS } from '../delivery/delivery.ts';
import type { MetricWindow } from '../protocol/index.ts';
import { COUNTERS } from '../store/index.ts';
import type { WindowSums } from './metric_window.ts';

/** The reporter's state in the store's meta. */
export interface SavedState {
  format: 1;
  seq: number;
  open: WindowSums[];
  pending: MetricWindow[];
  /** Windows closed, all time. */
  closed: number;
  /** The outbox's drop counter as last reported in a window. */
  droppedReported: number;
  /** The next serial for a window opened to hold slate results (absent before slates). */
  slateSerial?: number;
}

/** Closed windows kept while they cannot be queued; beyond this the oldest are dropped. */
export const MAX_PENDING = 100;

/** The outbox key of a window's batch: a function of the window id, so re-queuing is a no-op. */
export function outboxKey(window: MetricWindow): string {
  return `window:${window.windowId}`;
}

/**
 * Windows the reporter closed (`closed`, all time) that are neither pending, queued (`keys`, the
 * outbox's), nor counted as delivered, rejected or dropped (`counters`, the store's): removed
 * from the outbox behind its back. Every closed window is exactly one of those (the outbox
 * counts what it removes in the same transaction).
 */
export function lostWindows(
  closed: number,
  pending: readonly MetricWindow[],
  counters: Record<string, number>,
  keys: readonly string[],
): number {
  // The outbox also holds federated contributions: they are not windows.
  const here = new Set(keys.filter((key) => !isContribution(key)));
  for (const window of pending) here.add(outboxKey(window));
  const counted =
    (counters[DELIVERY_COUNTERS.delivered] ?? 0) +
    (counters[DELIVERY_COUNTERS.rejected] ?? 0) +
    (counters[COUNTERS.outboxDropped] ?? 0);
  return Math.max(0, closed - counted - here.size);
}

/** A saved state this code wrote (a damaged one is ignored: reporting starts afresh). */
export function isSavedState(value: unknown): value is SavedState {
  const state = value as Partial<SavedState> | undefined;
  return (
    state?.format === 1 &&
    Number.isInteger(state.seq) &&
    Array.isArray(state.open) &&
    Array.isArray(state.pending) &&
    Number.isInteger(state.closed) &&
    Number.isFinite(state.droppedReported)
  );
}
