/**
 * What the rollout drives on the device: the interface it owns and the learner implements
 * (src/runtime/lifecycle.ts), so that the rollout depends on no learner and the learner on no
 * rollout. Each operation runs in the learner's queue, after what was queued before it.
 */
import type { Pipeline } from '../runtime/pipeline.ts';
import type { NewRunningVersion } from '../runtime/version_store.ts';
import type { LocalVersions } from './plan.ts';

export interface RolloutTarget {
  /** What runs here, for planning the rollout (plan.ts). */
  localVersions(refused: (id: string) => boolean): Promise<LocalVersions>;
  /** Why a version cannot serve the app's outcomes here, or undefined when it can. */
  compatible(pipeline: Pipeline): string | undefined;
  /** Stages a verified version: it serves from now on, production keeps learning in its shadow. */
  stage(added: NewRunningVersion): Promise<void>;
  /** The staged version becomes production here too, with everything it learned. */
  promoteStaged(reason: string): Promise<void>;
  /** Takes the staged version out of service (the server pulled it, or the device left its arm). */
  dropStaged(reason: string): Promise<void>;
  /** Instant rollback to an archived version kept in IndexedDB. */
  restoreArchived(id: string, reason: string): Promise<void>;
  /** A new production version; with `carry`, from what the current production learned. */
  installProduction(added: NewRunningVersion, carry: boolean, reason: string): Promise<void>;
  /**
   * A refusal or a local rollback, told to the app and the server. A refused manifest names no
   * version (`versionId` is 'manifest'); neither does a stale one: the app hears of them, the
   * server does not.
   */
  reportRollout(
    versionId: string,
    kind: 'refused' | 'rolled_back' | 'stale_manifest',
    reason: string,
  ): void;
}
