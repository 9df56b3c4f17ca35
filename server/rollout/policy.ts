/**
 * The rollout policy: what to do with one staged version, given what the fleet reported about
 * it (server/rollout/evidence.ts). Pure: the same evidence and options always give the same
 * verdict, so the autopilot (which applies verdicts) and `status` (which shows them) agree.
 *
 * The evidence is the devices' shadow evaluation (design.md, "Shadow evaluation"): on each
 * outcome both heads scored, d = logloss(staged) − logloss(production), summed per device and
 * merged across devices. Its mean gets an anytime-valid confidence sequence
 * (src/rollout/confidence_sequence.ts), because the policy looks again after every ingest and
 * must not be fooled by looking often. Its variance is the larger of the per-outcome one and a
 * cluster-robust one with devices as clusters, so a few devices that disagree do not pass for
 * many independent outcomes. In order:
 *
 * Only evidence that may speak for the version counts (server/rollout/epochs.ts: from installs
 * in its arm at the time, registered before it was staged, against the production of the time),
 * each install capped (evidence.ts). The thresholds on devices grow with the arm: its active
 * devices are the installs whose windows for the version counted (`armDevices`).
 *
 * 1. Guardrails: when max(`guardrailDevices`, ⌈`guardrailShare` × armDevices⌉) devices have
 *    rolled the version back locally (errors, non-finite scores, latency), roll it back,
 *    whatever the comparison says.
 * 2. Too little evidence (fewer than max(`minDevices`, ⌈`minDeviceShare` × armDevices⌉)
 *    devices or `minSamples` paired outcomes against the current production version): hold.
 * 3. lower bound > `rollbackMargin`: worse than production → roll back.
 * 4. upper bound < −`promoteMargin`: better than production → promote.
 * 5. With `rampSteps`, upper bound < `rampMargin` ("not worse" by more than the margin) and
 *    `rampMinSamples` paired outcomes since the weight last changed: ramp to the next step.
 * 6. Else hold (inconclusive).
 */

import type { AdminVersion, PolicyVerdict } from '../../src/protocol/admin.ts';
import { CodedError } from '../../src/protocol/index.ts';
import { confidenceSequence, rhoFor } from '../../src/rollout/confidence_sequence.ts';

export interface PolicyOptions {
  /** Server-wide switch of the autopilot (verdicts are still computed for status). Default on. */
  enabled?: boolean;
  /** Probability that a confidence sequence is ever wrong (two-sided). Default 0.05. */
  alpha?: number;
  /** Devices with paired comparisons needed before any comparison-based decision. Default 5. */
  minDevices?: number;
  /** Paired outcomes (all devices) needed before any comparison-based decision. Default 1000. */
  minSamples?: number;
  /** Promote when the upper bound < −promoteMargin. Default 0. */
  promoteMargin?: number;
  /** Roll back when the lower bound > rollbackMargin. Default 0. */
  rollbackMargin?: number;
  /** Roll back once at least this many devices rolled the version back locally. Default 3. */
  guardrailDevices?: number;
  /** …and at least this share of the arm's active devices. Default 0.05. */
  guardrailShare?: number;
  /** Comparisons need at least this share of the arm's active devices too. Default 0.25. */
  minDeviceShare?: number;
  /**
   * One install counts for at most max(minSamples / minDevices, deviceCap × the median
   * install's) paired outcomes. Default 2.
   */
  deviceCap?: number;
  /** Weights to ramp through, e.g. [0.05, 0.25, 0.5, 1]; empty: never ramp. Default []. */
  rampSteps?: number[];
  /** Ramp when the upper bound < rampMargin (not worse by more than it). Default 0.01. */
  rampMargin?: number;
  /** Paired outcomes needed at the current weight before a ramp. Default minSamples. */
  rampMinSamples?: number;
  /** Confidence-sequence mixture scale in samples. Default rhoFor(minSamples, alpha). */
  rho?: number;
  /** Evaluations after ingest wait this long and cover every batch meanwhile. Default 1000. */
  debounceMs?: number;
}

export type ResolvedPolicy = Required<PolicyOptions>;

export class PolicyConfigError extends CodedError<'BAD_POLICY'> {
  override readonly name = 'PolicyConfigError';
  constructor(message: string) {
    super('BAD_POLICY', message);
  }
}

function check(ok: boolean, message: string): void {
  if (!ok) throw new PolicyConfigError(`policy: ${message}`);
}

/** Fills in defaults and refuses nonsense (a typed error naming the option). */
export function resolvePolicy(options: PolicyOptions = {}): ResolvedPolicy {
  const alpha = options.alpha ?? 0.05;
  const minSamples = options.minSamples ?? 1000;
  const resolved: ResolvedPolicy = {
    enabled: options.enabled ?? true,
    alpha,
    minDevices: options.minDevices ?? 5,
    minSamples,
    promoteMargin: options.promoteMargin ?? 0,
    rollbackMargin: options.rollbackMargin ?? 0,
    guardrailDevices: options.guardrailDevices ?? 3,
    guardrailShare: options.guardrailShare ?? 0.05,
    minDeviceShare: options.minDeviceShare ?? 0.25,
    deviceCap: options.deviceCap ?? 2,
    rampSteps: [...(options.rampSteps ?? [])],
    rampMargin: options.rampMargin ?? 0.01,
    rampMinSamples: options.rampMinSamples ?? minSamples,
    rho:
      options.rho ?? (alpha > 0 && alpha < 1 && minSamples > 0 ? rhoFor(minSamples, alpha) : NaN),
    debounceMs: options.debounceMs ?? 1000,
  };
  check(alpha > 0 && alpha < 1, 'alpha must be in (0, 1)');
  for (const key of ['minDevices', 'minSamples', 'guardrailDevices', 'rampMinSamples'] as const)
    check(Number.isInteger(resolved[key]) && resolved[key] >= 1, `${key} must be an integer >= 1`);
  for (const key of ['promoteMargin', 'rollbackMargin', 'rampMargin'] as const)
    check(Number.isFinite(resolved[key]), `${key} must be a finite number`);
  for (const key of ['guardrailShare', 'minDeviceShare'] as const)
    check(resolved[key] >= 0 && resolved[key] <= 1, `${key} must be in [0, 1]`);
  check(resolved.deviceCap >= 1 && Number.isFinite(resolved.deviceCap), 'deviceCap must be >= 1');
  check(resolved.rho > 0 && Number.isFinite(resolved.rho), 'rho must be a positive number');
  check(
    Number.isFinite(resolved.debounceMs) && resolved.debounceMs >= 0,
    'debounceMs must be >= 0',
  );
  check(
    resolved.rampSteps.every((w, i, all) => w > 0 && w <= 1 && (i === 0 || w > all[i - 1])),
    'rampSteps must be increasing weights in (0, 1]',
  );
  return resolved;
}

/** What the fleet reported about one staged version (see evidence.ts). */
export interface VersionEvidence {
  version: AdminVersion;
  /** The production version the comparisons are against; null when there is none. */
  baselineVersionId: string | null;
  devices: number;
  /** Devices whose paired outcomes were capped (evidence.ts). */
  cappedDevices: number;
  /** Installs whose windows for the version counted: the arm's active devices. */
  armDevices: number;
  n: number;
  diffSum: number;
  diffSumSq: number;
  /**
   * Cluster-robust per-outcome variance with devices as clusters (evidence.ts); the bound uses
   * the larger of it and the per-outcome variance. Null with fewer than two devices.
   */
  clusterVariance: number | null;
  /** Paired outcomes received since the weight last changed. */
  nAtWeight: number;
  /** Devices that rolled the version back through a local guardrail. */
  guardrailDevices: number;
}

const signed = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(4)}`;
const count = (x: number) => Math.round(x).toLocaleString('en-US');

export function decide(evidence: VersionEvidence, policy: ResolvedPolicy): PolicyVerdict {
  const { version } = evidence;
  const bound = confidenceSequence(
    { n: evidence.n, sum: evidence.diffSum, sumSq: evidence.diffSumSq },
    { alpha: policy.alpha, rho: policy.rho, minVariance: evidence.clusterVariance ?? 0 },
  );
  const level = `${Math.round((1 - policy.alpha) * 1000) / 10}%`;
  const reading =
    `paired Δlogloss vs ${evidence.baselineVersionId ?? '(no production)'}: ` +
    (bound
      ? `mean ${signed(bound.mean)}, ${level} CS [${signed(bound.lower)}, ${signed(bound.upper)}]`
      : 'mean —') +
    ` (n=${count(evidence.n)} outcomes, ${evidence.devices} devices)`;
  const base = {
    versionId: version.id,
    baselineVersionId: evidence.baselineVersionId,
    weight: version.weight,
    devices: evidence.devices,
    n: evidence.n,
    meanDiff: bound?.mean ?? (evidence.n > 0 ? evidence.diffSum / evidence.n : null),
    lower: bound?.lower ?? null,
    upper: bound?.upper ?? null,
    nAtWeight: evidence.nAtWeight,
    guardrailDevices: evidence.guardrailDevices,
    armDevices: evidence.armDevices,
    cappedDevices: evidence.cappedDevices,
    outcome: 'none' as const,
  };
  const verdict = (
    decision: PolicyVerdict['decision'],
    why: string,
    extra: Partial<PolicyVerdict> = {},
  ): PolicyVerdict => ({ ...base, decision, reason: `${why}; ${reading}`, ...extra });

  const guardrailNeeded = Math.max(
    policy.guardrailDevices,
    Math.ceil(policy.guardrailShare * evidence.armDevices - 1e-9),
  );
  if (evidence.guardrailDevices >= guardrailNeeded)
    return verdict(
      'rollback',
      `${evidence.guardrailDevices} devices rolled it back locally (guardrail threshold ${guardrailNeeded} of ${evidence.armDevices} active in the arm)`,
    );
  if (!evidence.baselineVersionId || !bound)
    return verdict('hold', 'no paired comparison against a production version yet');
  const devicesNeeded = Math.max(
    policy.minDevices,
    Math.ceil(policy.minDeviceShare * evidence.armDevices - 1e-9),
  );
  if (evidence.devices < devicesNeeded)
    return verdict(
      'hold',
      `too few devices (${evidence.devices} < ${devicesNeeded}${devicesNeeded > policy.minDevices ? ` of ${evidence.armDevices} active in the arm` : ''})`,
    );
  if (evidence.n < policy.minSamples)
    return verdict(
      'hold',
      `too few paired outcomes (${count(evidence.n)} < ${count(policy.minSamples)})`,
    );
  if (bound.lower > policy.rollbackMargin)
    return verdict(
      'rollback',
      `worse than ${evidence.baselineVersionId}: lower bound ${signed(bound.lower)} > ${policy.rollbackMargin}`,
    );
  if (bound.upper < -policy.promoteMargin)
    return verdict(
      'promote',
      `better than ${evidence.baselineVersionId}: upper bound ${signed(bound.upper)} < ${-policy.promoteMargin}`,
    );
  const next = policy.rampSteps.find((w) => w > version.weight + 1e-9);
  if (next !== undefined && bound.upper < policy.rampMargin) {
    if (evidence.nAtWeight >= policy.rampMinSamples)
      return verdict(
        'ramp',
        `not worse than ${evidence.baselineVersionId} by ${policy.rampMargin}: upper bound ${signed(bound.upper)}, ${count(evidence.nAtWeight)} outcomes at weight ${version.weight}; ramp ${version.weight} → ${next}`,
        { toWeight: next },
      );
    return verdict(
      'hold',
      `not worse so far; ${count(evidence.nAtWeight)} of ${count(policy.rampMinSamples)} outcomes needed at weight ${version.weight} before ramping to ${next}`,
    );
  }
  return verdict('hold', 'inconclusive');
}
