// A federated round end to end (issue 20, item 6): three real learners (workers, onnxruntime-
// web, IndexedDB) follow a real sync server on 127.0.0.1 through the rollout lab's proxy. An
// operator opens a round on the production version (which carries a head); each device learns
// k outcomes and contributes once; a reload on the same store does not contribute again; the
// operator closes the round, the server aggregates and stages the result at 0.1, and the
// devices in its arm stage it. The proxy keeps every request body the devices sent: none holds
// a feature, a label or an outcome — only registration, metric windows and the clipped deltas.
import { afterEach, describe, expect, inject, test } from 'vitest';
import type { Learner } from '../../../src/client/index.ts';
import { createLearner } from '../../../src/client/index.ts';
import { deltaNorm } from '../../../src/federated/contribution.ts';
import { headToJson } from '../../../src/learn/head_json.ts';
import { createHead } from '../../../src/learn/index.ts';
import type { ContributionRequest, Manifest } from '../../../src/protocol/index.ts';
import { CONTRIBUTIONS_PATH } from '../../../src/protocol/index.ts';
import { assignArm, rolloutBucket } from '../../../src/rollout/arm.ts';
import { nextRollout, RolloutFleet } from './rollout_fleet.ts';
import type { LabServer } from './rollout_lab.ts';
import { hasRolloutLab, newLabServer } from './rollout_lab.ts';
import { passingBackbone, WIDTH, world } from './rollout_models.ts';

const fleet = new RolloutFleet();
afterEach(() => fleet.cleanup());

const K = 12;
const CLIP = 0.5;

/** The production head every device starts from: trained a little, dimension WIDTH. */
function baseHead(): Record<string, unknown> {
  const head = createHead({ task: 'binary', dim: WIDTH, optimizer: { kind: 'sgd' } });
  for (const { example, label } of world(99, 40))
    head.partialFit(Array.from(example.item as Float32Array), label);
  return headToJson(head.exportState()) as unknown as Record<string, unknown>;
}

/** Polls stats until `done` holds: delivery has no event (as in helpers.ts, untilSync). */
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string) {
  const deadline = performance.now() + 20_000 * inject('timeScale');
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (performance.now() > deadline)
      throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const delivered = (learner: Learner, roundId: string) =>
  until(
    async () => (await learner.stats()).federated,
    (stats) => stats?.delivered.includes(roundId) === true,
    `${roundId} delivered`,
  );

/** Keys anywhere in a JSON value. */
function keysOf(value: unknown, into = new Set<string>()): Set<string> {
  if (Array.isArray(value)) for (const item of value) keysOf(item, into);
  else if (value && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) {
      into.add(key);
      keysOf(inner, into);
    }
  }
  return into;
}

describe.runIf(hasRolloutLab)('federated round', () => {
  test('three devices contribute once each; the round stages a new version their arm adopts', {
    timeout: 120_000 * inject('timeScale'),
  }, async () => {
    const server: LabServer = await newLabServer();
    // Other bytes than the app ships (the same function): the devices install v1 with its head
    // instead of adopting it with the app's fresh head.
    const v1 = await server.publish({
      bytes: passingBackbone(2, 1),
      weight: 0,
      semver: '1.0.0',
      head: baseHead(),
    });
    await server.promote(v1.id);
    const options = [0, 1, 2].map(() => fleet.options(server, { sync: { flushAtQueued: 1 } }));
    const learners = await Promise.all(options.map((o) => createLearner(o)));
    for (const learner of learners) {
      fleet.adopt(learner);
      await learner.checkForUpdates(); // registers: before the round opens, as the rule asks
      const first = await learner.stats();
      expect(first.versionId, JSON.stringify([first.rollout, first.recoveries])).toBe(v1.id);
    }
    const round = await server.openRound({
      baseVersionId: v1.id,
      clip: CLIP,
      minClients: 3,
      minOutcomes: K,
    });
    expect(round).toMatchObject({ status: 'open', contributions: 0 });

    // The round is announced before any device has learned k outcomes: none contributes yet.
    for (const learner of learners) await learner.checkForUpdates();
    for (const learner of learners) {
      expect((await learner.stats()).federated).toEqual({
        contributed: [],
        delivered: [],
        rounds: { [round.id]: 'too_few_outcomes' },
      });
    }
    // Each learns k outcomes; the k-th queues its contribution, which the outbox delivers.
    for (const [d, learner] of learners.entries()) {
      for (const [i, { example, label }] of world(d + 1, K).entries()) {
        await learner.observe(example, label, { id: `d${d}-o${i}` });
      }
    }
    for (const learner of learners) await delivered(learner, round.id);
    expect((await server.rounds()).rounds.find((r) => r.id === round.id)?.contributions).toBe(3);

    // A reload on the same store, more outcomes and a new manifest check: nothing new is sent.
    await learners[0].close();
    learners[0] = fleet.adopt(await createLearner(options[0]));
    await learners[0].checkForUpdates();
    for (const [i, { example, label }] of world(50, 5).entries()) {
      await learners[0].observe(example, label, { id: `again-${i}` });
    }
    await learners[0].checkForUpdates();
    expect((await learners[0].stats()).federated?.contributed).toEqual([round.id]);
    const log = await server.log();
    const posted = log.filter(
      (entry) => entry.path === CONTRIBUTIONS_PATH && entry.method === 'POST',
    );
    expect(posted.map((entry) => entry.status)).toEqual([201, 201, 201]);
    expect((await server.rounds()).rounds.find((r) => r.id === round.id)?.contributions).toBe(3);

    // The operator closes the round: the server aggregates and stages the result at 0.1.
    const closed = await server.closeRound(round.id);
    expect(closed.status).toBe('aggregated');
    const v2 = closed.resultVersionId as string;
    const staged = (await server.status()).versions.find((v) => v.versionId === v2);
    expect(staged?.version).toMatchObject({ status: 'staging', weight: 0.1 });
    const manifest: Manifest = await (await fetch(`${server.serverUrl}/v1/manifest`)).json();
    for (const learner of learners) {
      const installId = (await learner.stats()).sync?.installId as string;
      const arm = assignArm(manifest, await rolloutBucket(installId, manifest.rollout))?.id;
      if (arm === v2) {
        const stagedEvent = nextRollout(learner, 'staged');
        await learner.checkForUpdates();
        expect((await stagedEvent).versionId).toBe(v2);
      } else {
        await learner.checkForUpdates();
      }
      expect((await learner.stats()).versionId).toBe(arm ?? v1.id);
    }
    // Ramped to every device, all three stage it.
    await server.ramp(v2, 1);
    for (const learner of learners) {
      if ((await learner.stats()).versionId === v2) continue;
      const stagedEvent = nextRollout(learner, 'staged');
      await learner.checkForUpdates();
      expect((await stagedEvent).versionId).toBe(v2);
    }

    // Every body the devices sent: registration, metric windows, the three deltas — no raw
    // interaction (no example, feature vector, label or outcome id).
    const bodies = (await server.log()).filter((entry) => entry.body !== null);
    const paths = new Set(bodies.map((entry) => entry.path));
    expect([...paths].sort()).toEqual(
      ['/v1/federated/contributions', '/v1/metrics', '/v1/register'].sort(),
    );
    const ids = new Set<string>();
    for (const entry of bodies) {
      const body = JSON.parse(entry.body as string);
      if (entry.path === CONTRIBUTIONS_PATH) {
        const c = body as ContributionRequest;
        expect(Object.keys(c).sort()).toEqual(['baseVersionId', 'delta', 'outcomes', 'roundId']);
        expect(Object.keys(c.delta).sort()).toEqual(['intercepts', 'weights']);
        expect(c.delta.weights).toHaveLength(WIDTH);
        expect(deltaNorm(c.delta)).toBeLessThanOrEqual(CLIP * (1 + 1e-6));
      } else if (entry.path === '/v1/metrics') {
        expect(Object.keys(body).sort()).toEqual(['idempotencyKey', 'sentAt', 'windows']);
      }
      for (const key of keysOf(body)) ids.add(key);
      for (const forbidden of ['example', 'item', 'label', 'labels', 'clientId', 'columns']) {
        expect(keysOf(body).has(forbidden), `${entry.path} carries "${forbidden}"`).toBe(false);
      }
      for (let d = 0; d < 3; d++) expect(entry.body).not.toContain(`d${d}-o`);
    }
    expect(ids.size).toBeGreaterThan(0);
  });
});
