/**
 * The open metric windows, one per version, and when they close: after `maxOutcomes`
 * outcomes, or once `maxAgeMs` has passed since their first outcome. Both rules are decided
 * from the outcomes themselves (their count and their logged times) when outcomes arrive, so
 * replaying the same outcomes after a crash closes the same windows; the clock only matters
 * for a window that sits idle past its age (`closeExpired`, driven by the reporter's timer).
 *
 * Slate results (slates.ts) are added to their version's open window when the slates close;
 * they are not in the outcome log, so a replay does not rebuild them (the reporter's saved
 * state holds what was added before its last save).
 */
import type { Task } from '../learn/types.ts';
import type { RankingSums } from '../protocol/index.ts';
import type { WindowSums } from './metric_window.ts';
import { addRankingToWindow, addToWindow, openWindow, reviveWindow } from './metric_window.ts';
import type { Measured } from './scored_outcome.ts';

export interface WindowLimits {
  maxOutcomes: number;
  maxAgeMs: number;
}

export class WindowSet {
  private readonly open = new Map<string, WindowSums>();

  private readonly limits: WindowLimits;
  constructor(limits: WindowLimits, saved: readonly WindowSums[] = []) {
    this.limits = limits;
    for (const sums of saved) this.open.set(sums.versionId, reviveWindow(sums));
  }

  /**
   * Adds an outcome to its version's window. Returns the windows this closed: the version's
   * previous window if the outcome came too late for it, and the window it filled.
   */
  add(versionId: string, task: Task, seq: number, ts: number, m: Measured): WindowSums[] {
    const closed: WindowSums[] = [];
    let sums = this.open.get(versionId);
    if (sums && ts - sums.start >= this.limits.maxAgeMs) {
      closed.push(sums);
      sums = undefined;
    }
    if (!sums) {
      sums = openWindow(versionId, task, seq, ts);
      this.open.set(versionId, sums);
    }
    addToWindow(sums, seq, ts, m);
    if (sums.count >= this.limits.maxOutcomes) {
      closed.push(sums);
      this.open.delete(versionId);
    }
    return closed;
  }

  /**
   * Adds closed slates' results to their version's open window. With none open, it opens one
   * that holds them (count 0, named by `serial`; the version's next outcome continues it) and
   * returns true: the caller's serial is used up. Results cut at another k than the window's
   * earlier ones are not added (see `addRankingToWindow`).
   */
  addRanking(
    versionId: string,
    task: Task,
    ranking: RankingSums,
    at: { seq: number; ts: number; serial: number },
  ): { added: boolean; opened: boolean } {
    let sums = this.open.get(versionId);
    let opened = false;
    if (!sums) {
      sums = openWindow(versionId, task, at.seq, at.ts);
      sums.serial = at.serial;
      this.open.set(versionId, sums);
      opened = true;
    }
    return { added: addRankingToWindow(sums, ranking), opened };
  }

  /** Closes the windows whose first outcome is at least `maxAgeMs` older than `now`. */
  closeExpired(now: number): WindowSums[] {
    return this.closeWhere((sums) => now - sums.start >= this.limits.maxAgeMs);
  }

  /** Closes every open window (the page is being hidden: report what there is). */
  closeAll(): WindowSums[] {
    return this.closeWhere(() => true);
  }

  /** When the oldest open window expires (epoch ms), or undefined if none is open. */
  nextExpiry(): number | undefined {
    let earliest: number | undefined;
    for (const sums of this.open.values()) {
      const at = sums.start + this.limits.maxAgeMs;
      if (earliest === undefined || at < earliest) earliest = at;
    }
    return earliest;
  }

  /** Outcomes in open windows (not yet queued). */
  get pendingOutcomes(): number {
    let total = 0;
    for (const sums of this.open.values()) total += sums.count;
    return total;
  }

  /** Copies of the open windows, to store. */
  save(): WindowSums[] {
    return [...this.open.values()].map((sums) => structuredClone(sums));
  }

  private closeWhere(test: (sums: WindowSums) => boolean): WindowSums[] {
    const closed: WindowSums[] = [];
    for (const [versionId, sums] of this.open) {
      if ((sums.count > 0 || (sums.ranking?.slates ?? 0) > 0) && test(sums)) {
        closed.push(sums);
        this.open.delete(versionId);
      }
    }
    return closed;
  }
}
