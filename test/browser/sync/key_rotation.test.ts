// Rotating the manifest signing key with a real learner in the browser, against the real sync
// server (rollout lab: the key in the server's data directory, the operator's `rotate-key`
// steps on its database, the server process restarted after each, as server/README.md asks).
// The learner follows manifests signed by key A; after `prepare` the app ships a build with
// keys A and B and keeps following; after `activate` the manifests are signed by B and it
// still follows. A build with only A, and a manifest signed by a key nobody built with, are
// refused with `unknown_key` while the learner keeps serving what it has.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Learner } from '../../../src/client/index.ts';
import { createLearner } from '../../../src/client/index.ts';
import { manifestKeyId, SIGNATURE_KEY_HEADER } from '../../../src/protocol/index.ts';
import type { LearnerEventMap } from '../../../src/runtime/events.ts';
import { deleteStore } from '../../../src/store/index.ts';
import type { LabServer } from './rollout_lab.ts';
import { hasRolloutLab, newLabServer } from './rollout_lab.ts';
import { passingBackbone, world } from './rollout_models.ts';

const weak = passingBackbone(2);
const names = [`rotation-${crypto.randomUUID()}`, `rotation-old-${crypto.randomUUID()}`];
let server: LabServer;
const learners: Learner[] = [];

beforeAll(async () => {
  if (!hasRolloutLab) return;
  server = await newLabServer();
  const v1 = await server.publish({ bytes: weak, weight: 0, semver: '1.0.0' });
  await server.promote(v1.id);
});

afterAll(async () => {
  for (const learner of learners) await learner.close();
  for (const name of names) await deleteStore(name);
  await server?.close();
});

/** The app as built with these keys, on this device (store). */
async function build(name: string, publicKeys: string[]): Promise<Learner> {
  const learner = await createLearner({
    model: { bytes: weak },
    store: { name },
    sync: { url: server.url, appKey: server.appKey },
    rollout: { publicKeys, live: false },
  });
  learners.push(learner);
  return learner;
}

async function close(learner: Learner): Promise<void> {
  learners.splice(learners.indexOf(learner), 1);
  await learner.close();
}

/** `rollout` events the learner announces while `during` runs. */
async function events(
  learner: Learner,
  during: () => Promise<void>,
): Promise<LearnerEventMap['rollout'][]> {
  const seen: LearnerEventMap['rollout'][] = [];
  const off = learner.on('rollout', (event) => seen.push(event));
  try {
    await during();
  } finally {
    off();
  }
  return seen;
}

/** The key id the server signs with now, as a device sees it. */
async function signingKeyId(): Promise<string | null> {
  const response = await fetch(`${server.url}/v1/manifest`, { cache: 'no-store' });
  await response.arrayBuffer();
  return response.headers.get(SIGNATURE_KEY_HEADER);
}

let salt = 0;
async function stageAndPromote(learner: Learner, semver: string): Promise<string> {
  const staged = await server.publish({ bytes: passingBackbone(8, ++salt), weight: 1, semver });
  await learner.checkForUpdates();
  expect((await learner.stats()).versions.staged?.id).toBe(staged.id);
  await server.promote(staged.id);
  await learner.checkForUpdates();
  const stats = await learner.stats();
  expect(stats.versions.production).toBe(staged.id);
  expect(stats.versions.staged).toBeUndefined();
  expect((await learner.predict(world(salt, 1)[0].example)).versionId).toBe(staged.id);
  return staged.id;
}

describe.runIf(hasRolloutLab)('signing key rotation with a real learner', () => {
  test('A signs; prepare; a build with A and B; activate: B signs and the learner follows', async () => {
    const keyA = server.publicKey.raw;
    expect(await signingKeyId()).toBe(manifestKeyId(keyA));

    // The build that knows only A follows the server.
    let learner = await build(names[0], [keyA]);
    await learner.checkForUpdates();
    expect((await learner.stats()).versionId).toBe('v1');
    await stageAndPromote(learner, '2.0.0');

    // Step 1: the next key is published, A still signs.
    const prepared = await server.rotate('prepare');
    expect(prepared.raw).toBe(keyA);
    const keyB = prepared.next!.raw;
    expect(keyB).not.toBe(keyA);
    expect(await signingKeyId()).toBe(manifestKeyId(keyA));
    await stageAndPromote(learner, '3.0.0');

    // Step 2: the app ships with both keys; the same device runs the new build.
    await close(learner);
    learner = await build(names[0], [keyA, keyB]);
    await learner.checkForUpdates();
    const v3 = await stageAndPromote(learner, '4.0.0');

    // Step 3: B signs from now on.
    const active = await server.rotate('activate');
    expect(active.raw).toBe(keyB);
    expect(active.next).toBeUndefined();
    expect(await signingKeyId()).toBe(manifestKeyId(keyB));
    const refusedByNew = await events(learner, async () => {
      await learner.checkForUpdates();
    });
    expect(refusedByNew.filter((e) => e.action === 'refused')).toEqual([]);
    expect((await learner.stats()).versionId).toBe(v3);
    const v5 = await stageAndPromote(learner, '5.0.0');

    // A device still on the build with only A: refused, named, and it keeps serving.
    const old = await build(names[1], [keyA]);
    const seen = await events(old, async () => {
      await old.checkForUpdates();
    });
    // (Its start-up check may refuse it too: every refusal is this one.)
    expect(seen.length).toBeGreaterThan(0);
    expect(seen).toEqual(
      seen.map(() =>
        expect.objectContaining({
          action: 'refused',
          versionId: 'manifest',
          reason: expect.stringMatching(
            new RegExp(
              `^unknown_key: signed by key ${escapeRegExp(manifestKeyId(keyB))}, this app has ${escapeRegExp(manifestKeyId(keyA))} \\(`,
            ),
          ),
        }),
      ),
    );
    const oldStats = await old.stats();
    expect(oldStats.versions.production).not.toBe(v5);
    expect((await old.predict(world(99, 1)[0].example)).versionId).toBe(oldStats.versionId);

    // A manifest signed by a key nobody built with: refused by the new build too, which keeps
    // serving v5 and stages nothing from it.
    await server.tamper({ manifest: { kind: 'foreign-key' } });
    let offered = '';
    const attacked = await events(learner, async () => {
      offered = (
        await server.publish({ bytes: passingBackbone(8, ++salt), weight: 1, semver: '6.0.0' })
      ).id;
      await learner.checkForUpdates();
    });
    expect(attacked).toEqual([
      expect.objectContaining({
        action: 'refused',
        versionId: 'manifest',
        reason: expect.stringMatching(
          new RegExp(
            `^unknown_key: signed by key \\S+, this app has ${escapeRegExp(manifestKeyId(keyA))}, ${escapeRegExp(manifestKeyId(keyB))} \\(`,
          ),
        ),
      }),
    ]);
    const during = await learner.stats();
    expect(during.versionId).toBe(v5);
    expect(during.versions.staged).toBeUndefined();
    expect((await learner.predict(world(7, 1)[0].example)).versionId).toBe(v5);

    // The genuine manifest again (signed by B): it stages what was offered.
    await server.tamper({ manifest: { kind: 'pass' } });
    await learner.checkForUpdates();
    expect((await learner.stats()).versions.staged?.id).toBe(offered);
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
