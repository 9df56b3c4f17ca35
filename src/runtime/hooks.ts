/**
 * The learner's lifecycle hooks: what an extension — the metrics reporter (src/reporting), the
 * rollout (src/rollout) — registers to hear of and take part in, instead of being wired inside
 * the learner (in the manner of Workbox's strategy plugins: a small core, callbacks on a
 * lifecycle). The learner knows only this interface; `startup.ts` builds the extensions an
 * app's options ask for and registers them.
 *
 * Every hook is optional. Observers (`slateServed`, `outcomeLearned`, `versionEvent`) run
 * synchronously on the learner's hot path and must not throw; the rest are awaited in order
 * of registration.
 *
 * ```ts
 * import type { LearnerHooks } from './hooks.ts';
 * let learned = 0;
 * const counting: LearnerHooks = { outcomeLearned: () => void learned++ };
 * ```
 */
import type { VersionEvent } from '../protocol/index.ts';
import type { LearnedOutcome } from '../reporting/scored_outcome.ts';
import type { SlateOpening } from '../reporting/slates.ts';
import type { LearnerStats } from './stats.ts';

export interface LearnerHooks {
  /** A prediction over a slate was served (the outcomes on it are reported against it). */
  slateServed?(slate: SlateOpening): void;
  /** An outcome was scored, then learned (or replayed: its seq says which it had before). */
  outcomeLearned?(outcome: LearnedOutcome): void;
  /** Something happened to a version on this device that the fleet should hear of. */
  versionEvent?(versionId: string, event: VersionEvent): void;
  /** Before a snapshot is written: state that must cover at least what the snapshot covers. */
  beforeSnapshot?(): Promise<void>;
  /** After the learner's own flush (the page hides): send what is due. */
  flush?(): Promise<void>;
  /** `checkForUpdates()`: look for new versions now. */
  checkForUpdates?(): Promise<void>;
  /** What the extension adds to `stats()`. */
  stats?(): Promise<Pick<LearnerStats, 'sync' | 'rollout' | 'federated'>>;
  /** Closing, before the learner's queue drains: stop acting on the learner. */
  stop?(): Promise<void>;
  /** Closing, after the last snapshot: release what the extension holds. */
  close?(): Promise<void>;
}

/** The registered hooks, called as one. */
export class Hooks {
  private readonly list: LearnerHooks[] = [];

  register(hooks: LearnerHooks): void {
    this.list.push(hooks);
  }

  slateServed(slate: SlateOpening): void {
    for (const hooks of this.list) hooks.slateServed?.(slate);
  }

  outcomeLearned(outcome: LearnedOutcome): void {
    for (const hooks of this.list) hooks.outcomeLearned?.(outcome);
  }

  versionEvent(versionId: string, event: VersionEvent): void {
    for (const hooks of this.list) hooks.versionEvent?.(versionId, event);
  }

  /** Whether anyone listens for slates (a prediction builds one only then). */
  get hearsSlates(): boolean {
    return this.list.some((hooks) => hooks.slateServed);
  }

  async run(name: 'beforeSnapshot' | 'flush' | 'checkForUpdates' | 'stop' | 'close') {
    for (const hooks of this.list) await hooks[name]?.();
  }

  /** Every extension's part of `stats()`; one that cannot tell now is left out. */
  async stats(): Promise<Pick<LearnerStats, 'sync' | 'rollout' | 'federated'>> {
    const parts = await Promise.all(
      this.list.map((hooks) => hooks.stats?.().catch(() => undefined)),
    );
    return Object.assign({}, ...parts);
  }
}
