// Tampering is never activated (design invariant 3): a device on v1 is offered a staged v2 in
// its arm, and the bytes or the manifest are tampered with on the way (the rollout lab's proxy,
// test/support/rollout_lab.ts) or the version is broken at the source. Each case leaves the
// device serving v1, says why, and never downloads into service what failed a check.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Learner } from '../../../src/client/index.ts';
import { createLearner } from '../../../src/client/index.ts';
import type { LearnerEventMap } from '../../../src/runtime/events.ts';
import { deleteStore } from '../../../src/store/index.ts';
import type { LabServer, Tampering } from './rollout_lab.ts';
import { hasRolloutLab, newLabServer } from './rollout_lab.ts';
import { passingBackbone, rolloutSpec, world } from './rollout_models.ts';

const weak = passingBackbone(2);
let server: LabServer;
let learner: Learner;
const name = `rollout-tampering-${crypto.randomUUID()}`;
let salt = 0;
let semvers = 0;

beforeAll(async () => {
  if (!hasRolloutLab) return;
  server = await newLabServer();
  const v1 = await server.publish({ bytes: weak, weight: 0, semver: '1.0.0' });
  await server.promote(v1.id);
  learner = await createLearner({
    model: { bytes: weak },
    store: { name },
    sync: { url: server.url, appKey: server.appKey },
    rollout: { publicKey: server.publicKey.raw, live: false },
  });
  await learner.checkForUpdates();
});

afterAll(async () => {
  await learner?.close();
  await deleteStore(name);
  await server?.close();
});

/** Refusals the learner announces while `during` runs. */
async function refusals(during: () => Promise<void>): Promise<LearnerEventMap['rollout'][]> {
  const seen: LearnerEventMap['rollout'][] = [];
  const off = learner.on('rollout', (event) => seen.push(event));
  try {
    await during();
  } finally {
    off();
  }
  return seen;
}

/** Publishes a staged version at weight 1 (every device's arm) with `tampering` in force. */
async function offer(
  tampering: Tampering,
  bytes = passingBackbone(8, ++salt),
  featureSpec?: Record<string, unknown>,
) {
  await server.tamper(tampering);
  const since = (await server.log()).length;
  let id = '';
  const events = await refusals(async () => {
    id = (
      await server.publish({
        bytes,
        weight: 1,
        semver: `2.0.${++semvers}`,
        ...(featureSpec ? { featureSpec } : {}),
      })
    ).id;
    await learner.checkForUpdates();
  });
  const stats = await learner.stats();
  const answer = await learner.predict(world(salt, 1)[0].example);
  // Clean up for the next case: the server pulls the version, the proxy passes again.
  await server.rollback(id);
  await server.tamper({ manifest: { kind: 'pass' }, model: { kind: 'pass' } });
  await learner.checkForUpdates();
  return { events, stats, answer, published: id, log: await server.log(since) };
}

describe.runIf(hasRolloutLab)('tampered versions are never activated', () => {
  test.each([
    ['changed bytes', { model: { kind: 'flip' } }, 'sha256_mismatch'],
    [
      'wrong sha256 (another model’s bytes)',
      { model: { kind: 'swap', sha256: '' } },
      'sha256_mismatch',
    ],
    ['truncated download', { model: { kind: 'truncate' } }, 'truncated'],
  ] as const)('%s → refused', async (_what, tampering, code) => {
    const other = passingBackbone(8, 1000 + salt);
    const swap =
      tampering.model.kind === 'swap'
        ? { model: { kind: 'swap' as const, sha256: (await server.upload(other)).sha256 } }
        : tampering;
    const { events, stats, answer, published } = await offer(swap);
    expect(events).toEqual([
      expect.objectContaining({
        action: 'refused',
        versionId: published,
        reason: expect.stringMatching(new RegExp(`^${code}`)),
      }),
    ]);
    expect(stats.versionId).toBe('v1');
    expect(stats.versions.staged).toBeUndefined();
    expect(answer.versionId).toBe('v1');
  });

  test.each([
    ['bad signature', { manifest: { kind: 'corrupt-signature' } }, 'bad_signature'],
    ['missing signature', { manifest: { kind: 'strip-signature' } }, 'missing_signature'],
    ['a body changed after signing', { manifest: { kind: 'corrupt-body' } }, 'bad_signature'],
  ] as const)(
    '%s → the manifest is ignored (%s) and no model is fetched',
    async (_what, tampering, code) => {
      const { events, stats, answer, log } = await offer(tampering);
      expect(events).toEqual([
        expect.objectContaining({
          action: 'refused',
          versionId: 'manifest',
          reason: expect.stringMatching(new RegExp(`^${code}`)),
        }),
      ]);
      expect(stats.versionId).toBe('v1');
      expect(answer.versionId).toBe('v1');
      expect(log.filter((entry) => entry.path.startsWith('/v1/models/'))).toEqual([]);
    },
  );

  test('a model whose output does not match its feature spec → shape_mismatch', async () => {
    const narrow = { ...rolloutSpec, output: { name: 'embedding', size: 4 } };
    const bytes = passingBackbone(4, ++salt, narrow);
    const { events, stats } = await offer({ model: { kind: 'pass' } }, bytes, { ...rolloutSpec });
    expect(events).toEqual([
      expect.objectContaining({
        action: 'refused',
        reason: expect.stringMatching(/^shape_mismatch/),
      }),
    ]);
    expect(stats.versionId).toBe('v1');
  });

  test('bytes that are not ONNX → bad_model', async () => {
    const junk = new TextEncoder().encode(`not a model ${crypto.randomUUID()}`.repeat(20));
    const { events, stats } = await offer({ model: { kind: 'pass' } }, junk, { ...rolloutSpec });
    expect(events).toEqual([
      expect.objectContaining({ action: 'refused', reason: expect.stringMatching(/^bad_model/) }),
    ]);
    expect(stats.versionId).toBe('v1');
  });

  test('after every refusal, an honest version still stages', async () => {
    const { stats } = await offer({ model: { kind: 'pass' } });
    expect(stats.versionId).toBe(
      `v${stats.versions.staged ? stats.versions.staged.id.slice(1) : 'x'}`,
    );
    expect(stats.versions.staged).toBeDefined();
  });
});
