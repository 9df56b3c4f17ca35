// Model versions, their bytes and the lifecycle, in real Chromium IndexedDB.
import { afterEach, describe, expect, test } from 'vitest';
import type { Store, VersionStatus } from '../../../src/store/index.ts';
import { isStoreError, TRANSITIONS } from '../../../src/store/index.ts';
import { addVersion, cleanup, fakeClock, modelBytes, open, spec, uniqueName } from './helpers.ts';

afterEach(cleanup);

const STATUSES: VersionStatus[] = ['draft', 'staging', 'production', 'archived', 'rolled_back'];

/** Puts a fresh version into `status` by valid steps (with a production to archive if needed). */
async function versionIn(store: Store, id: string, seed: number, status: VersionStatus) {
  await addVersion(store, id, seed, 'draft');
  const path: Record<VersionStatus, VersionStatus[]> = {
    draft: [],
    staging: ['staging'],
    production: ['staging', 'production'],
    archived: ['staging', 'production', 'archived'],
    rolled_back: ['staging', 'rolled_back'],
  };
  for (const to of path[status]) await store.versions.transition(id, to);
}

describe('versions', () => {
  test('every valid transition is applied and recorded in the history', async () => {
    const clock = fakeClock();
    const store = await open(uniqueName('lifecycle'), { now: clock.now });
    await addVersion(store, 'v1', 1);
    clock.tick();
    await store.versions.transition('v1', 'staging', { weight: 0.05, reason: 'published' });
    expect((await store.versions.setWeight('v1', 0.25)).weight).toBe(0.25);
    clock.tick();
    await store.versions.transition('v1', 'production');
    clock.tick();
    const archived = await store.versions.transition('v1', 'archived');
    expect(archived.status).toBe('archived');
    expect(archived.weight).toBe(0);
    expect(archived.history.map((h) => [h.from, h.to])).toEqual([
      [null, 'draft'],
      ['draft', 'staging'],
      ['staging', 'production'],
      ['production', 'archived'],
    ]);
    expect(archived.history[1].reason).toBe('published');
    expect(archived.updatedAt).toBe(clock.now());
  });

  // The whole table: each (from, to) pair is either allowed by TRANSITIONS or refused unchanged.
  for (const from of STATUSES) {
    for (const to of STATUSES) {
      const allowed = TRANSITIONS[from].includes(to);
      test(`${from} → ${to} is ${allowed ? 'allowed' : 'refused and changes nothing'}`, async () => {
        const store = await open(uniqueName(`t-${from}-${to}`));
        await versionIn(store, 'v', 1, from);
        const before = await store.versions.get('v');
        const result = await store.versions.transition('v', to).catch((e: unknown) => e);
        if (allowed) {
          expect(result).toMatchObject({ id: 'v', status: to });
          expect((await store.versions.get('v'))?.status).toBe(to);
        } else {
          expect(isStoreError(result, 'INVALID_TRANSITION')).toBe(true);
          expect(await store.versions.get('v')).toEqual(before);
        }
      });
    }
  }

  test('promoting a version archives the previous production in the same step', async () => {
    const clock = fakeClock();
    const store = await open(uniqueName('promote'), { now: clock.now });
    await addVersion(store, 'v1', 1, 'production');
    await addVersion(store, 'v2', 2, 'staging');
    clock.tick();
    await store.versions.transition('v2', 'production');
    expect((await store.versions.production())?.id).toBe('v2');
    const v1 = await store.versions.get('v1');
    expect(v1?.status).toBe('archived');
    expect(v1?.history.at(-1)?.reason).toBe('superseded by v2');
    expect(await store.versions.list('production')).toHaveLength(1);
  });

  test('rollback puts the last archived version back in one step', async () => {
    const clock = fakeClock();
    const store = await open(uniqueName('rollback'), { now: clock.now });
    await addVersion(store, 'v1', 1, 'production');
    await addVersion(store, 'v2', 2, 'staging');
    clock.tick();
    await store.versions.transition('v2', 'production');
    clock.tick();
    const { rolledBack, production } = await store.versions.rollback({ reason: 'worse logloss' });
    expect(rolledBack).toMatchObject({ id: 'v2', status: 'rolled_back' });
    expect(production).toMatchObject({ id: 'v1', status: 'production' });
    // Nothing left to roll back to: refused, nothing changed.
    const error = await store.versions.rollback().catch((e: unknown) => e);
    expect(isStoreError(error, 'INVALID_TRANSITION')).toBe(true);
    expect((await store.versions.production())?.id).toBe('v1');
  });

  test('a version cannot be staged or promoted without its model bytes', async () => {
    const store = await open(uniqueName('no-bytes'));
    const { sha256 } = await modelBytes(9);
    await store.versions.add({ id: 'v9', semver: '9.0.0', modelSha256: sha256, featureSpec: spec });
    const error = await store.versions.transition('v9', 'staging').catch((e: unknown) => e);
    expect(isStoreError(error, 'NOT_FOUND')).toBe(true);
    expect((await store.versions.get('v9'))?.status).toBe('draft');
    const add = await store.versions
      .add({ id: 'v10', semver: '1', modelSha256: sha256, featureSpec: spec, status: 'production' })
      .catch((e: unknown) => e);
    expect(isStoreError(add, 'NOT_FOUND')).toBe(true);
    expect(await store.versions.get('v10')).toBeUndefined();
  });

  test('adding is idempotent for the same content; other content or bad input is refused', async () => {
    const store = await open(uniqueName('add'));
    const first = await addVersion(store, 'v1', 1);
    expect(await addVersion(store, 'v1', 1)).toEqual(first);
    const { sha256 } = await modelBytes(2);
    const conflict = await store.versions
      .add({ id: 'v1', semver: '2.0.0', modelSha256: sha256, featureSpec: spec })
      .catch((e: unknown) => e);
    expect(isStoreError(conflict, 'CONFLICT')).toBe(true);
    const bad = await store.versions
      .add({ id: 'v2', semver: '1', modelSha256: 'not-a-sha', featureSpec: spec })
      .catch((e: unknown) => e);
    expect(isStoreError(bad, 'BAD_RECORD')).toBe(true);
    const badSpec = await store.versions
      .add({ id: 'v3', semver: '1', modelSha256: sha256, featureSpec: { ...spec, inputs: [] } })
      .catch((e: unknown) => e);
    expect(isStoreError(badSpec, 'BAD_RECORD')).toBe(true);
    expect((await store.versions.list()).map((v) => v.id)).toEqual(['v1']);
  });

  test('a second production cannot be added directly', async () => {
    const store = await open(uniqueName('two-prod'));
    await addVersion(store, 'v1', 1, 'production');
    const error = await addVersion(store, 'v2', 2, 'production').catch((e: unknown) => e);
    expect(isStoreError(error, 'INVALID_TRANSITION')).toBe(true);
    expect(await store.versions.get('v2')).toBeUndefined();
  });

  test('reload after each transition restores the same versions and statuses', async () => {
    const name = uniqueName('reload');
    const clock = fakeClock();
    let store = await open(name, { now: clock.now });
    await addVersion(store, 'v1', 1, 'production');
    await addVersion(store, 'v2', 2, 'draft');
    const steps: [string, VersionStatus][] = [
      ['v2', 'staging'],
      ['v2', 'production'],
      ['v1', 'production'],
      ['v1', 'rolled_back'],
    ];
    for (const [id, to] of steps) {
      clock.tick();
      if (to === 'rolled_back') await store.versions.rollback();
      else await store.versions.transition(id, to);
      const before = await store.versions.list();
      store.close();
      store = await open(name, { now: clock.now });
      expect(await store.versions.list()).toEqual(before);
    }
    expect((await store.versions.production())?.id).toBe('v2');
    expect((await store.versions.get('v1'))?.status).toBe('rolled_back');
  });
});

describe('models', () => {
  test('bytes are stored only under their own sha256, and read back verified', async () => {
    const store = await open(uniqueName('models'));
    const model = await modelBytes(3, 4096);
    const other = await modelBytes(4);
    const mismatch = await store.models.put(other.sha256, model.bytes).catch((e: unknown) => e);
    expect(isStoreError(mismatch, 'SHA_MISMATCH')).toBe(true);
    expect(await store.models.has(other.sha256)).toBe(false);

    expect(await store.models.put(model.sha256, model.bytes)).toEqual({ stored: true });
    expect(await store.models.put(model.sha256, model.bytes)).toEqual({ stored: false });
    expect(new Uint8Array((await store.models.get(model.sha256))!)).toEqual(model.bytes);

    // Bytes changed on disk are refused on read: corrupt bytes are never run.
    const record = (await store.db.get('models', model.sha256))!;
    new Uint8Array(record.data)[7] ^= 1;
    await store.db.put('models', record);
    const corrupt = await store.models.get(model.sha256).catch((e: unknown) => e);
    expect(isStoreError(corrupt, 'SHA_MISMATCH')).toBe(true);
    expect(await store.checkIntegrity({ verifyModels: true })).toContainEqual({
      kind: 'corrupt_model',
      sha256: model.sha256,
    });
  });

  test('deleteUnused removes only bytes no version refers to', async () => {
    const store = await open(uniqueName('unused'));
    await addVersion(store, 'v1', 1, 'production');
    const orphan = await modelBytes(7);
    await store.models.put(orphan.sha256, orphan.bytes);
    expect(await store.models.deleteUnused()).toEqual([orphan.sha256]);
    expect(await store.models.list()).toEqual([(await store.versions.get('v1'))!.modelSha256]);
    expect((await store.meta.usage()).models.count).toBe(1);
  });

  test('missing model bytes are reported by checkIntegrity, not thrown', async () => {
    const store = await open(uniqueName('missing'));
    const v1 = await addVersion(store, 'v1', 1, 'production');
    await store.db.delete('models', v1.modelSha256);
    expect(await store.checkIntegrity()).toEqual([
      { kind: 'missing_model', versionId: 'v1', status: 'production', sha256: v1.modelSha256 },
    ]);
    expect(await store.models.get(v1.modelSha256)).toBeUndefined();
  });
});
