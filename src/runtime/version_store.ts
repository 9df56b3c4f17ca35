/**
 * How the learner keeps its versions in IndexedDB: loading a stored version back into a
 * pipeline, installing the app's bundled model, and recording what the rollout does (stage,
 * promote, drop, restore, install). Every function here changes the store in the lifecycle's
 * own transactions (src/store/versions.ts); the caller changes what runs in memory after.
 */

import type { Backbone } from '../backbone/backbone.ts';
import { loadBackbone } from '../backbone/backbone.ts';
import { sha256Hex } from '../sha256.ts';
import type { Store, VersionRecord } from '../store/index.ts';
import { Pipeline } from './pipeline.ts';
import type { InitialState } from './running_version.ts';
import { RunningVersion } from './running_version.ts';

/** A version the device may add: fetched and verified, or the app's own. */
export interface NewRunningVersion {
  record: Pick<VersionRecord, 'id' | 'semver' | 'modelSha256' | 'featureSpec'> & {
    weight?: number;
  };
  bytes: Uint8Array;
  pipeline: Pipeline;
  source: 'app' | 'server';
  /** `performance.now()` when the bytes were verified: the swap's clock starts there. */
  verifiedAt?: number;
}

/** An older build's bundled model gives way to this build's; a server's version does not. */
export async function replacedByApp(version: VersionRecord, given: Uint8Array): Promise<boolean> {
  return version.metadata?.source === 'app' && version.modelSha256 !== (await sha256Hex(given));
}

/**
 * A stored version as a pipeline at its starting point (the caller restores its snapshot), or
 * throws when it cannot be used: bytes missing, model no longer loading, no initial state.
 * `given` are bytes the app already has, used when they are the version's; `preloaded` is
 * a backbone already made from them, used when it is the version's model on the version's spec.
 */
export async function loadStoredVersion(
  store: Store,
  version: VersionRecord,
  given?: Uint8Array,
  preloaded?: Backbone,
): Promise<RunningVersion> {
  const initial = version.metadata?.initial as InitialState | undefined;
  if (!initial) throw new Error('the version has no initial head');
  if (
    preloaded?.sha256 === version.modelSha256 &&
    JSON.stringify(preloaded.spec) === JSON.stringify(version.featureSpec)
  ) {
    const pipeline = Pipeline.create(preloaded, initial.head, initial.scaler ?? false, version.id);
    return new RunningVersion(pipeline, initial);
  }
  const givenSha = given ? await sha256Hex(given) : undefined;
  const bytes =
    given && givenSha === version.modelSha256 ? given : await store.models.get(version.modelSha256);
  if (!bytes) throw new Error(`the bytes of model ${version.modelSha256} are missing`);
  const backbone = await loadBackbone(
    bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes),
    version.featureSpec,
  );
  const pipeline = Pipeline.resume(backbone, initial.head, initial.scaler ?? false, version.id);
  return new RunningVersion(pipeline, initial);
}

/**
 * Adds a version with its bytes, initial state and a first snapshot (so compaction has a
 * floor) as `staging`; `production` then promotes it, archiving the current one, and applies
 * retention (the last few archived versions stay for instant rollback).
 */
export async function addVersion(
  store: Store,
  added: NewRunningVersion,
  initial: InitialState,
  to: 'staging' | 'production',
  reason: string,
): Promise<void> {
  const { record, bytes, source } = added;
  await store.models.put(record.modelSha256, bytes);
  const existing = await store.versions.get(record.id);
  if (existing?.status === 'rolled_back') {
    await store.versions.transition(record.id, 'staging', { reason: 'offered again' });
    if (to === 'production') {
      await store.versions.transition(record.id, 'production', { reason });
      await store.applyRetention();
    }
  } else if (!existing) {
    const current = await store.versions.production();
    const first = to === 'production' && !current;
    await store.versions.add({
      ...record,
      status: first ? 'production' : 'staging',
      weight: record.weight ?? 0,
      metadata: { initial, source },
    });
    if (to === 'production' && !first) {
      await store.versions.transition(record.id, 'production', { reason });
      await store.applyRetention();
    }
  }
  const { head, scaler } = initial;
  await store.snapshots.write({ versionId: record.id, seq: initial.seq, head, scaler });
}

/** The staged version becomes production (the old one is archived), or leaves service. */
export async function endStaging(
  store: Store,
  id: string,
  to: 'production' | 'rolled_back',
  reason: string,
): Promise<void> {
  await store.versions.transition(id, to, { reason });
  if (to === 'production') await store.applyRetention();
}

/** Instant rollback: the current production is rolled back and an archived version returns. */
export async function restoreArchived(store: Store, id: string, reason: string): Promise<void> {
  await store.versions.rollback({ to: id, reason });
}
