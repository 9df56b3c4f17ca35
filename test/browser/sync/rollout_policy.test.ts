// The fleet decides: real learners in Chromium stage a v2, score it against production on the
// same outcomes (paired differences of logloss), and report the comparisons; the lab server's
// rollout policy (server/rollout/policy.ts), not an admin, rolls a degraded v2 back or promotes
// a better one, and the devices follow. The numbers in the policy's audit entry must be exactly
// the devices' own paired sums, so the decision provably comes from their comparisons.
import { afterEach, describe, expect, test } from 'vitest';
import type { PolicyOptions } from '../../../server/rollout/policy.ts';
import type { Learner } from '../../../src/client/index.ts';
import type { AuditEntry } from '../../../src/protocol/admin.ts';
import { nextRollout, RolloutFleet } from './rollout_fleet.ts';
import type { LabServer } from './rollout_lab.ts';
import { hasRolloutLab, newLabServer } from './rollout_lab.ts';
import { passingBackbone, world } from './rollout_models.ts';

const fleetOf = new RolloutFleet();
afterEach(() => fleetOf.cleanup());

const DEVICES = 3;
const OUTCOMES_PER_DEVICE = 300;
// Thresholds lowered from the defaults (5 devices, 1,000 outcomes) to fit a test; the rest of
// the policy (α, margins, the confidence sequence, the cluster-robust variance) is the default.
const policy: PolicyOptions = { minDevices: DEVICES, minSamples: 600 };
// Long windows and a rare send: nothing leaves a device before `flush()`, so the policy can
// only act once every device has sent all of its comparisons (one window each), and its
// numbers must equal the sum of theirs.
const quiet = { window: { maxOutcomes: 10_000, maxAgeMs: 600_000 }, flushIntervalMs: 600_000 };
// AdaGrad heads. The default binary head (SGD with scikit-learn's 'optimal' schedule: step
// size 10 at first with l2 = 10⁻⁴, halved only after 1,000 steps) overshoots on standardised
// inputs for its first hundreds of outcomes: its mean logloss there runs at 4–8, worse the
// more features it has, so a backbone that passes nothing "wins" a paired comparison that
// short. AdaGrad's steps stay small, and the comparison measures the backbones.
const head = { optimizer: { kind: 'adagrad' as const } };

const lab = (): Promise<LabServer> => fleetOf.lab(policy);

const device = (server: LabServer): Promise<Learner> =>
  fleetOf.device(server, { head, sync: quiet });

interface Paired {
  n: number;
  diffSum: number;
  diffSumSq: number;
}

/**
 * The fleet of `DEVICES` learners on v1, then v2 staged on all of them (weight 1); each
 * observes its own outcomes, sends its comparisons, and the server's policy gets to act.
 * Returns the devices' own paired sums, read before anything was sent.
 */
async function fleetCompares(
  server: LabServer,
  v2: Uint8Array,
): Promise<{
  fleet: Learner[];
  paired: Paired[];
}> {
  const fleet = await Promise.all(Array.from({ length: DEVICES }, () => device(server)));
  for (const learner of fleet) expect((await learner.stats()).versionId).toBe('v1');
  await server.publish({ bytes: v2, weight: 1, semver: '2.0.0' });
  const staged = fleet.map((learner) => nextRollout(learner, 'staged'));
  await Promise.all(fleet.map((learner) => learner.checkForUpdates()));
  for (const event of await Promise.all(staged)) expect(event.versionId).toBe('v2');
  await Promise.all(
    fleet.map(async (learner, d) => {
      for (const [i, { example, label }] of world(100 + d, OUTCOMES_PER_DEVICE).entries())
        await learner.observe(example, label, { id: `d${d}-o${i}` });
    }),
  );
  const paired = await Promise.all(
    fleet.map(async (learner) => {
      const stats = await learner.stats();
      expect(stats.versions.staged?.id).toBe('v2');
      return stats.versions.staged?.paired ?? { n: 0, diffSum: 0, diffSumSq: 0 };
    }),
  );
  for (const p of paired) expect(p.n).toBe(OUTCOMES_PER_DEVICE);
  // Before the flush the server has nothing to go on: the policy holds.
  expect((await server.evaluate(true)).verdicts).toMatchObject([
    { versionId: 'v2', decision: 'hold', n: 0 },
  ]);
  await Promise.all(fleet.map((learner) => learner.flush()));
  // Ingest schedules the policy's evaluation after a debounce; wait for that evaluation itself
  // (the lab awaits the server's autopilot.idle()), not for time to pass.
  await server.settle();
  return { fleet, paired };
}

/** The one audit entry the policy wrote about v2, checked against the devices' own sums. */
async function policyEntry(server: LabServer, paired: Paired[]): Promise<AuditEntry> {
  const entries = (await server.audit()).filter(
    (entry) => entry.versionId === 'v2' && entry.actor === 'policy',
  );
  expect(entries).toHaveLength(1);
  const [entry] = entries;
  const numbers = entry.details.policy as {
    baseline: string;
    devices: number;
    n: number;
    meanDiff: number;
    lower: number;
    upper: number;
  };
  const n = paired.reduce((sum, p) => sum + p.n, 0);
  const diffSum = paired.reduce((sum, p) => sum + p.diffSum, 0);
  expect(numbers.baseline).toBe('v1');
  expect(numbers.devices).toBe(DEVICES);
  expect(numbers.n).toBe(n);
  expect(numbers.n).toBeGreaterThanOrEqual(policy.minSamples ?? Infinity);
  expect(numbers.meanDiff).toBeCloseTo(diffSum / n, 6);
  expect(entry.why).toContain(`n=${n.toLocaleString('en-US')} outcomes, ${DEVICES} devices`);
  console.info(`rollout policy: ${entry.action} v2 — ${entry.why}`);
  return entry;
}

describe.runIf(hasRolloutLab)('rollout decided by the policy from real devices', () => {
  test('the lab refuses a policy the server would refuse, naming the option', async () => {
    await expect(newLabServer({ policy: { minDevices: 0 } })).rejects.toThrow(
      /400 .*PolicyConfigError: policy: minDevices must be an integer >= 1/,
    );
  });

  test('a degraded v2 is rolled back by the policy, and the devices serve v1 again', async () => {
    const server = await lab();
    const { fleet, paired } = await fleetCompares(server, passingBackbone(0));
    // Each device already sees it: the staged head, with nothing to go on, loses.
    for (const p of paired) expect(p.diffSum / p.n).toBeGreaterThan(0);

    const entry = await policyEntry(server, paired);
    expect(entry.action).toBe('rollback');
    expect((entry.details.policy as { lower: number }).lower).toBeGreaterThan(0);
    const status = await server.status();
    expect(status.versions.find((v) => v.versionId === 'v2')?.version?.status).toBe('rolled_back');
    // No admin acted after the two publishing steps (v1's publish and promote, v2's publish).
    expect(status.audit.filter((e) => e.actor !== 'policy').map((e) => e.action)).not.toContain(
      'rollback',
    );

    const dropped = fleet.map((learner) => nextRollout(learner, 'rolled_back'));
    await Promise.all(fleet.map((learner) => learner.checkForUpdates()));
    for (const event of await Promise.all(dropped)) expect(event.versionId).toBe('v2');
    const [{ example }] = world(7, 1);
    for (const learner of fleet) {
      const stats = await learner.stats();
      expect(stats.versionId).toBe('v1');
      expect(stats.versions.production).toBe('v1');
      expect(stats.versions.staged).toBeUndefined();
      expect((await learner.predict(example)).versionId).toBe('v1');
    }
  });

  test('a better v2 is promoted by the policy, and the devices keep its personalised head', async () => {
    const server = await lab();
    const { fleet, paired } = await fleetCompares(server, passingBackbone(8));
    for (const p of paired) expect(p.diffSum / p.n).toBeLessThan(0);

    const entry = await policyEntry(server, paired);
    expect(entry.action).toBe('promote');
    expect((entry.details.policy as { upper: number }).upper).toBeLessThan(0);
    const status = await server.status();
    expect(status.versions.find((v) => v.versionId === 'v2')?.version?.status).toBe('production');
    expect(
      status.audit.filter((e) => e.actor !== 'policy' && e.versionId === 'v2').map((e) => e.action),
    ).toEqual(['publish']);

    // What each device's staged head learned is what it serves after the promotion.
    const probe = world(8, 20).map((entry) => entry.example);
    const before = await Promise.all(fleet.map((learner) => learner.predict(probe)));
    const promoted = fleet.map((learner) => nextRollout(learner, 'promoted'));
    await Promise.all(fleet.map((learner) => learner.checkForUpdates()));
    for (const event of await Promise.all(promoted)) expect(event.versionId).toBe('v2');
    for (const [i, learner] of fleet.entries()) {
      const stats = await learner.stats();
      expect(stats.versions.production).toBe('v2');
      expect(stats.versions.staged).toBeUndefined();
      const after = await learner.predict(probe);
      expect(after.versionId).toBe('v2');
      expect(Array.from(after.scores)).toEqual(Array.from(before[i].scores));
    }
    // Personalised: the devices learned different outcomes, so their heads differ.
    expect(Array.from(before[0].scores)).not.toEqual(Array.from(before[1].scores));
  });
});
