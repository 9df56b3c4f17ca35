/**
 * The versions that run on this device and how they serve and learn: production and, when the
 * rollout gives this device a staged version, that one too (design, "Shadow evaluation"). The
 * staged version serves predictions; both score every outcome before learning it — a paired
 * comparison on the very same outcomes — and both learn it, so whichever version wins takes
 * over already personalised.
 *
 * A staged version that fails where production did not (a thrown error, a non-finite score or
 * loss, a slow answer: `src/rollout/guardrails.ts`) is taken out of service at once, and the
 * app never sees it fail: production answers instead.
 *
 * One pass per outcome: `score` checks and scores it with every running version (changing
 * nothing, so bad input is refused before anything is stored), `learn` then adapts and teaches
 * each of them what they scored, and returns what the reporter counts.
 */
import type { FeatureSpec } from '../backbone/feature_spec.ts';
import type { PackedBatch } from '../backbone/features.ts';
import { isLearnerError } from '../errors.ts';
import type { Label } from '../learn/types.ts';
import type { VersionEvent } from '../protocol/index.ts';
import { confidenceSequence } from '../rollout/confidence_sequence.ts';
import { Guardrails, type GuardrailTrip, guardrailRollbackReason } from '../rollout/guardrails.ts';
import type { RolloutOptions } from '../rollout/options.ts';
import { Adaptation, type AdaptationOptions, type AdaptationStep } from './adaptation.ts';
import type { LearnerEvent } from './events.ts';
import type { PredictionBatch, PreparedBatch } from './pipeline.ts';
import type { RunningVersion } from './running_version.ts';
import type { VersionsStats } from './stats.ts';

/** One outcome checked and scored by a version, ready for it to learn. */
export interface Scored {
  version: RunningVersion;
  prepared: PreparedBatch;
}

/** What learning one outcome showed, for the reporter and the app. */
export interface LearnStep {
  /** The version whose score counts (the one that served the outcome, else production). */
  served: Scored;
  /** Staged minus production loss on this outcome, when both scored it. */
  paired?: { baselineVersionId: string; diff: number };
  /** The serving version's drift alarms on it. */
  alarms: string[];
  /** The serving head's leading candidate when it scored the outcome. */
  leader?: string;
  /** A production head's failure (the caller counts it and throws it after reporting). */
  failure?: unknown;
}

/** What serving needs from the learner around it. */
export interface ServingContext {
  emit(event: LearnerEvent): void;
  /** A rollout event for the fleet (the reporter's evidence). */
  versionEvent(versionId: string, event: VersionEvent): void;
  /** Records a guardrail rollback in the store, after what the learner has queued. */
  recordRollback(versionId: string, reason: string): void;
  adaptation: Pick<AdaptationOptions, 'drift' | 'forgettingGuard'>;
  guardrails: RolloutOptions['guardrails'];
}

/** Paired outcomes before a device's own comparison is shown (the bound is loose below it). */
const MIN_PAIRED_SAMPLES = 100;

export class Serving {
  production: RunningVersion;
  private stagedVersion: RunningVersion | undefined;
  private paired = { n: 0, diffSum: 0, diffSumSq: 0 };
  private guardrails: Guardrails;
  private readonly adaptations = new Map<RunningVersion, Adaptation>();
  /** Staged versions taken out of service here (guardrails). */
  guardrailRollbacks = 0;
  /** Times the forgetting guard reset the serving head. */
  resets = 0;
  /** While replaying the log: adaptation runs, but nothing is announced again. */
  replaying = false;
  private readonly context: ServingContext;

  constructor(production: RunningVersion, context: ServingContext) {
    this.production = production;
    this.context = context;
    this.guardrails = new Guardrails(context.guardrails);
  }

  get staged(): RunningVersion | undefined {
    return this.stagedVersion;
  }

  /** The version serving predictions: the staged one in this device's arm, else production. */
  get current(): RunningVersion {
    return this.stagedVersion ?? this.production;
  }

  get running(): RunningVersion[] {
    return this.stagedVersion ? [this.production, this.stagedVersion] : [this.production];
  }

  /** A new staged version (or none): its comparison and guardrails start afresh. */
  setStaged(staged: RunningVersion | undefined): void {
    this.stagedVersion = staged;
    this.paired = { n: 0, diffSum: 0, diffSumSq: 0 };
    this.guardrails = new Guardrails(this.context.guardrails);
  }

  /** Takes the staged version out of service without a word (the caller says why). */
  takeStaged(): RunningVersion | undefined {
    const staged = this.stagedVersion;
    this.stagedVersion = undefined;
    return staged;
  }

  async predict(batch: PackedBatch): Promise<PredictionBatch> {
    const staged = this.stagedVersion;
    const answer = staged ? await this.predictStaged(staged, batch) : undefined;
    return answer ?? this.production.predict(batch);
  }

  /**
   * The staged version's answer, or undefined when a guardrail took it out of service: the
   * caller answers from production, so the app never sees the staged version fail.
   */
  private async predictStaged(
    staged: RunningVersion,
    batch: PackedBatch,
  ): Promise<PredictionBatch | undefined> {
    const started = performance.now();
    let result: PredictionBatch;
    try {
      result = await staged.predict(batch);
    } catch (error) {
      // Bad input is the app's mistake, not the version's: production would refuse it too.
      if (isLearnerError(error) && (error.code === 'BAD_INPUT' || error.code === 'BAD_LABEL')) {
        throw error;
      }
      this.guardrailTripped(staged, Guardrails.error(error));
      return undefined;
    }
    const trip = this.guardrails.checkPrediction(result.scores, performance.now() - started);
    if (trip) this.guardrailTripped(staged, trip);
    return trip?.kind === 'non_finite' ? undefined : result; // slow, but a good answer
  }

  /**
   * Checks and scores the outcome with every running version, changing nothing: bad input
   * throws here, before anything is stored; a staged version that fails where production did not
   * is taken out of service.
   */
  async score(batch: PackedBatch, label: Label): Promise<Scored[]> {
    const prepared = await this.production.pipeline.prepare(batch, [label]);
    const scored: Scored[] = [{ version: this.production, prepared }];
    const staged = this.stagedVersion;
    if (staged) {
      try {
        const stagedPrepared = await staged.pipeline.prepare(batch, [label]);
        const trip = this.guardrails.checkLoss(stagedPrepared.losses[0]);
        if (trip) this.guardrailTripped(staged, trip);
        else scored.push({ version: staged, prepared: stagedPrepared });
      } catch (error) {
        this.guardrailTripped(staged, Guardrails.error(error));
      }
    }
    return scored;
  }

  /**
   * Every version that scored the outcome adapts and learns it; `servedBy` is the version the
   * outcome was served by (a replay passes the one stored with it).
   */
  learn(scored: Scored[], seq: number, servedBy: string): LearnStep {
    const served = scored.find((entry) => entry.version.id === servedBy) ?? scored[0];
    // Before learning: the candidate whose weight led when the outcome was scored.
    const leader = served.version.pipeline.leader();
    let failure: unknown;
    let alarms: string[] = [];
    for (const { version, prepared } of scored) {
      try {
        const step = this.adaptationOf(version).beforeLearning(prepared);
        if (version === served.version) {
          alarms = step.alarms;
          this.announceAdaptation(version, step, seq);
        }
        version.pipeline.learn(prepared);
      } catch (error) {
        if (version === this.stagedVersion) this.guardrailTripped(version, Guardrails.error(error));
        else failure ??= error;
      }
    }
    const baseline = scored.find((entry) => entry.version === this.production);
    let paired: LearnStep['paired'];
    if (served !== baseline && baseline) {
      const diff = served.prepared.losses[0] - baseline.prepared.losses[0];
      paired = { baselineVersionId: baseline.version.id, diff };
      if (Number.isFinite(diff)) {
        this.paired.n++;
        this.paired.diffSum += diff;
        this.paired.diffSumSq += diff * diff;
      }
    }
    return {
      served,
      alarms,
      ...(paired ? { paired } : {}),
      ...(leader !== undefined ? { leader } : {}),
      ...(failure !== undefined ? { failure } : {}),
    };
  }

  /** Production, the staged version with its paired comparison, and the guardrails' count. */
  stats(): VersionsStats {
    const staged = this.stagedVersion;
    const comparison = this.paired.n >= MIN_PAIRED_SAMPLES ? compare(this.paired) : undefined;
    return {
      production: this.production.id,
      ...(staged
        ? {
            staged: {
              id: staged.id,
              paired: { ...this.paired },
              ...(comparison ? { comparison } : {}),
            },
          }
        : {}),
      guardrailRollbacks: this.guardrailRollbacks,
    };
  }

  /** The outcomes' input must mean the same to every version the app may be served by. */
  compatible(spec: FeatureSpec): string | undefined {
    const ours = this.production.pipeline.spec;
    if (spec.task !== ours.task) return `the task is ${spec.task}, production's ${ours.task}`;
    if (JSON.stringify(spec.classes ?? null) !== JSON.stringify(ours.classes ?? null)) {
      return 'the classes differ from production';
    }
    const inputs = (of: FeatureSpec) =>
      JSON.stringify(of.inputs.map((input) => [input.name, input.size, input.dtype ?? 'float32']));
    if (inputs(spec) !== inputs(ours)) return 'the inputs differ from production';
    return undefined;
  }

  async retire(): Promise<void> {
    await Promise.all(this.running.map((version) => version.retire()));
  }

  private guardrailTripped(staged: RunningVersion, trip: GuardrailTrip): void {
    if (this.stagedVersion !== staged) return; // already out of service
    this.stagedVersion = undefined;
    this.guardrailRollbacks++;
    const because = guardrailRollbackReason(trip);
    this.context.emit({
      type: 'rollout',
      action: 'rolled_back',
      versionId: staged.id,
      reason: because,
    });
    this.context.versionEvent(staged.id, { kind: 'rolled_back', at: Date.now(), reason: because });
    this.context.recordRollback(staged.id, because);
    void staged.retire();
    this.context.emit({
      type: 'version',
      versionId: this.production.id,
      spec: this.production.pipeline.spec,
    });
  }

  private adaptationOf(version: RunningVersion): Adaptation {
    let adaptation = this.adaptations.get(version);
    if (!adaptation) {
      adaptation = new Adaptation(version, this.context.adaptation);
      this.adaptations.set(version, adaptation);
    }
    return adaptation;
  }

  /** Drift events and resets of the serving version, told to the app (not while replaying). */
  private announceAdaptation(version: RunningVersion, step: AdaptationStep, seq: number): void {
    if (this.replaying) return;
    for (const event of step.events) {
      const { kind, detector, severity, multiplier } = event;
      this.context.emit({
        type: 'drift',
        versionId: version.id,
        seq,
        kind,
        detector,
        severity,
        multiplier,
      });
    }
    if (step.reset) {
      this.resets++;
      const { n, deviceMean, baselineMean, difference } = step.reset;
      this.context.emit({
        type: 'reset',
        versionId: version.id,
        seq,
        n,
        deviceMean,
        baselineMean,
        difference,
      });
    }
  }
}

function compare(paired: { n: number; diffSum: number; diffSumSq: number }) {
  const bound = confidenceSequence({ n: paired.n, sum: paired.diffSum, sumSq: paired.diffSumSq });
  if (!bound) return undefined; // non-finite sums: nothing to conclude
  const verdict =
    bound.upper < 0 ? 'staged better' : bound.lower > 0 ? 'staged worse' : 'undecided';
  return { mean: bound.mean, lower: bound.lower, upper: bound.upper, verdict } as const;
}
