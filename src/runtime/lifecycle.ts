/**
 * The lifecycle operations the rollout drives (src/rollout/target.ts): stage, promote, drop,
 * restore an archived version, install a new production. Each runs in the learner's queue, so
 * no outcome is scored by one set of versions and learned by another; each writes a snapshot
 * first (what was learned so far is kept under the versions that learned it), changes the
 * store in the lifecycle's own transactions (version_store.ts), and only then changes what
 * runs. A swap is without a gap: the old version is released once its in-flight predictions
 * finished (running_version.ts).
 */
import { LearnerError } from '../errors.ts';
import { isGuardrailRollback } from '../rollout/guardrails.ts';
import type { LocalVersions } from '../rollout/plan.ts';
import type { RolloutTarget } from '../rollout/target.ts';
import type { Store } from '../store/index.ts';
import type { Durability } from './durability.ts';
import type { LearnerEvent } from './events.ts';
import type { Hooks } from './hooks.ts';
import type { Pipeline } from './pipeline.ts';
import { RunningVersion } from './running_version.ts';
import type { Serving } from './serving.ts';
import type { NewRunningVersion } from './version_store.ts';
import { addVersion, endStaging, loadStoredVersion, restoreArchived } from './version_store.ts';

export interface LifecycleContext {
  serving: Serving;
  durability: Durability;
  hooks: Hooks;
  emit(event: LearnerEvent): void;
  serialise<T>(task: () => Promise<T>): Promise<T>;
}

type Action = 'staged' | 'promoted' | 'rolled_back' | 'installed';

export class VersionLifecycle implements RolloutTarget {
  private readonly context: LifecycleContext;

  constructor(context: LifecycleContext) {
    this.context = context;
  }

  async localVersions(refused: (id: string) => boolean): Promise<LocalVersions> {
    const { serving, durability } = this.context;
    const stored = (await durability.store?.versions.list()) ?? [];
    const statuses = new Map(stored.map((version) => [version.id, version.status]));
    const guardrailed = new Set(
      stored
        .filter((version) => isGuardrailRollback(version.history.at(-1)?.reason))
        .map((version) => version.id),
    );
    return {
      production: {
        id: serving.production.id,
        sha256: serving.production.pipeline.backbone.sha256,
      },
      ...(serving.staged ? { staged: { id: serving.staged.id } } : {}),
      status: (id) => statuses.get(id),
      refused,
      guardrailed: (id) => guardrailed.has(id),
    };
  }

  compatible(pipeline: Pipeline): string | undefined {
    return this.context.serving.compatible(pipeline.spec);
  }

  stage(added: NewRunningVersion): Promise<void> {
    return this.change(async (store, { serving, durability }) => {
      const initial = { ...added.pipeline.exportState(), seq: durability.lastSeq };
      await addVersion(store, added, initial, 'staging', 'staged by the rollout');
      const previous = serving.staged;
      serving.setStaged(new RunningVersion(added.pipeline, initial));
      this.announce('staged', added.record.id, undefined, swapTime(added));
      await previous?.retire();
    });
  }

  promoteStaged(reason: string): Promise<void> {
    return this.change(async (store, { serving }) => {
      const staged = serving.staged;
      if (!staged) return;
      await endStaging(store, staged.id, 'production', reason);
      const previous = serving.production;
      serving.production = staged;
      serving.takeStaged();
      this.announce('promoted', staged.id, reason);
      await previous.retire();
    });
  }

  dropStaged(reason: string): Promise<void> {
    return this.context.serialise(async () => {
      const staged = this.context.serving.takeStaged();
      if (!staged) return;
      await endStaging(requireStore(this.context), staged.id, 'rolled_back', reason).catch(
        () => {},
      );
      this.announce('rolled_back', staged.id, reason);
      await staged.retire();
    });
  }

  restoreArchived(id: string, reason: string): Promise<void> {
    return this.context.serialise(async () => {
      const store = requireStore(this.context);
      const { serving, durability } = this.context;
      const record = await store.versions.get(id);
      if (!record) throw new LearnerError('STORAGE', `no stored version ${id}`);
      const restored = await loadStoredVersion(store, record);
      await durability.snapshot();
      await restoreArchived(store, id, reason);
      await durability.catchUp(restored);
      const previous = serving.production;
      serving.production = restored;
      this.announce('installed', id, reason);
      await previous.retire();
    });
  }

  installProduction(added: NewRunningVersion, carry: boolean, reason: string): Promise<void> {
    return this.change(async (store, { serving, durability }) => {
      if (carry) added.pipeline.restore(serving.production.pipeline.exportState());
      const initial = { ...added.pipeline.exportState(), seq: durability.lastSeq };
      await addVersion(store, added, initial, 'production', reason);
      const previous = serving.production;
      serving.production = new RunningVersion(added.pipeline, initial);
      this.announce('installed', added.record.id, reason, swapTime(added));
      await previous.retire();
    });
  }

  reportRollout(
    versionId: string,
    kind: 'refused' | 'rolled_back' | 'stale_manifest',
    reason: string,
  ): void {
    this.context.emit({ type: 'rollout', action: kind, versionId, reason });
    if (versionId !== 'manifest' && kind !== 'stale_manifest') {
      this.context.hooks.versionEvent(versionId, { kind, at: Date.now(), reason });
    }
  }

  /** In the queue, after a snapshot of what was learned so far. */
  private change(task: (store: Store, context: LifecycleContext) => Promise<void>): Promise<void> {
    return this.context.serialise(async () => {
      const store = requireStore(this.context);
      await this.context.durability.snapshot();
      await task(store, this.context);
    });
  }

  private announce(action: Action, versionId: string, reason?: string, swapMs?: number): void {
    const { emit, hooks, serving } = this.context;
    emit({
      type: 'rollout',
      action,
      versionId,
      ...(reason ? { reason } : {}),
      ...(swapMs !== undefined ? { swapMs } : {}),
    });
    if (action !== 'installed') {
      hooks.versionEvent(versionId, {
        kind: action,
        at: Date.now(),
        ...(reason ? { reason } : {}),
      });
    }
    emit({ type: 'version', versionId: serving.current.id, spec: serving.current.pipeline.spec });
  }
}

function requireStore(context: LifecycleContext): Store {
  const store = context.durability.store;
  if (!store) throw new LearnerError('STORAGE', 'rollouts need the IndexedDB store');
  return store;
}

function swapTime(added: NewRunningVersion): number | undefined {
  return added.verifiedAt === undefined ? undefined : performance.now() - added.verifiedAt;
}
