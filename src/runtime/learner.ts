/**
 * The learner in the worker: a small coordinator over the parts that do the work. Calls that
 * change state run one at a time, in arrival order, in one queue; `predict` does not wait
 * for it.
 *
 * - `serving.ts`: the versions that run here (production, a staged one), how they predict,
 *   score and learn, the guardrails and the paired comparison;
 * - `durability.ts`: the outcome log, snapshots, replay on start (design invariant 1);
 * - `lifecycle.ts`: stage, promote, roll back and install, as the rollout asks;
 * - `hooks.ts`: what extensions (the metrics reporter, the rollout) hear and take part in;
 * - `startup.ts`: how a learner is opened and its extensions registered.
 *
 * One pass per outcome: `observe` checks it and every running version scores it once
 * (nothing changes yet, so bad input is refused before anything is stored), then it is stored,
 * then every version learns what it scored, and the hooks hear of it.
 */
import type { FeatureSpec } from '../backbone/feature_spec.ts';
import type { PackedBatch } from '../backbone/features.ts';
import { describeError, isLearnerError, LearnerError } from '../errors.ts';
import type { Label } from '../learn/types.ts';
import type { OutcomeRecord } from '../store/index.ts';
import type { OutcomeReport } from '../store/schema.ts';
import type { Durability } from './durability.ts';
import type { LearnerEvent } from './events.ts';
import { Hooks } from './hooks.ts';
import { VersionLifecycle } from './lifecycle.ts';
import type { LearnerInit, ObserveOptions, ObserveResult, PredictOptions } from './options.ts';
import { measurements, outcomeQuality, outcomeReport } from './outcome.ts';
import type { PredictionBatch } from './pipeline.ts';
import type { RecoveryLog } from './recoveries.ts';
import type { Scored, Serving } from './serving.ts';
import type { StartupTiming } from './startup_timing.ts';
import type { LearnerStats } from './stats.ts';
import { persistenceStats } from './stats.ts';
import { UpdateCadence } from './update_cadence.ts';

/** An outcome stored and scored, waiting in the update cadence's buffer to be learned. */
interface Pending {
  scored: Scored[];
  seq: number;
  ts: number;
  report: OutcomeReport | undefined;
}

/** The parts a learner is made of (startup.ts builds them). */
export interface LearnerParts {
  init: LearnerInit;
  serving: Serving;
  durability: Durability;
  recoveries: RecoveryLog;
  timing: StartupTiming;
}

export class DurableLearner {
  readonly hooks = new Hooks();
  readonly lifecycle: VersionLifecycle;
  readonly serving: Serving;
  readonly durability: Durability;
  private queue: Promise<unknown> = Promise.resolve();
  private cadence: UpdateCadence<Pending> | undefined;
  private counts = { predictions: 0, observed: 0, duplicates: 0, rejected: 0, restores: 0 };
  private readonly parts: LearnerParts;
  /** Where events go; while starting, startup.ts also records failures as recoveries. */
  emit: (event: LearnerEvent) => void;

  constructor(parts: LearnerParts, emit: (event: LearnerEvent) => void) {
    this.parts = parts;
    this.serving = parts.serving;
    this.durability = parts.durability;
    this.emit = emit;
    this.lifecycle = new VersionLifecycle({
      serving: this.serving,
      durability: this.durability,
      hooks: this.hooks,
      emit: (event) => this.emit(event),
      serialise: (task) => this.serialise(task),
    });
    const { cadence } = parts.init;
    if (cadence && cadence.mode !== 'event') {
      this.cadence = new UpdateCadence<Pending>(
        cadence,
        (items) => {
          for (const item of items) this.learn(item.scored, item.seq, item.ts, item.report);
        },
        {
          onError: (error) =>
            this.emit({
              type: 'error',
              code: 'INTERNAL',
              message: `learning: ${describeError(error)}`,
            }),
        },
      );
    }
  }

  /** The version serving predictions. */
  get versionId(): string {
    return this.serving.current.id;
  }

  get spec(): FeatureSpec {
    return this.serving.current.pipeline.spec;
  }

  async predict(batch: PackedBatch, options: PredictOptions = {}): Promise<PredictionBatch> {
    let result: PredictionBatch;
    try {
      result = await this.serving.predict(batch);
    } catch (error) {
      this.countFailure(error);
      throw error;
    }
    this.counts.predictions += batch.n;
    const { slate } = options;
    if (slate && this.hooks.hearsSlates) {
      this.hooks.slateServed({
        id: slate.id,
        versionId: result.versionId,
        scores: result.scores,
        ...(slate.surface !== undefined ? { surface: slate.surface } : {}),
      });
    }
    return result;
  }

  /** Stores the outcome durably, then learns it; one at a time, in arrival order. */
  observe(
    batch: PackedBatch,
    label: Label,
    clientId: string,
    options: ObserveOptions = {},
  ): Promise<ObserveResult> {
    return this.serialise(async () => {
      if (typeof clientId !== 'string' || clientId === '') {
        this.counts.rejected++;
        throw new LearnerError('BAD_INPUT', 'an outcome needs a non-empty id');
      }
      if (batch?.n !== 1) {
        this.counts.rejected++;
        throw new LearnerError('BAD_INPUT', 'observe takes one example at a time');
      }
      const report = outcomeReport(options);
      let scored: Scored[];
      try {
        scored = await this.serving.score(batch, label);
      } catch (error) {
        this.countFailure(error);
        throw error;
      }
      const ts = Date.now();
      const stored = await this.durability.append(
        batch,
        label,
        clientId,
        ts,
        report,
        this.versionId,
      );
      if (stored.duplicate) {
        this.counts.duplicates++;
        return stored;
      }
      if (this.cadence) this.cadence.push({ scored, seq: stored.seq, ts, report });
      else this.learn(scored, stored.seq, ts, report);
      return stored;
    });
  }

  /**
   * Writes a snapshot now if anything was learned since the last one (e.g. the page hides),
   * then lets the extensions send what is due — outside the queue, so outcomes keep flowing
   * while a request is out.
   */
  async flush(): Promise<void> {
    await this.serialise(async () => {
      this.cadence?.flush();
      await this.durability.snapshot();
    });
    await this.hooks.run('flush');
  }

  /** Checks the server's manifest now and acts on it; resolves when done. */
  async checkForUpdates(): Promise<void> {
    await this.hooks.run('checkForUpdates');
  }

  async stats(): Promise<LearnerStats> {
    const { durability, serving, parts } = this;
    const storeStats = await durability.store?.stats().catch(() => undefined);
    const extensions = await this.hooks.stats();
    const serves = serving.current.pipeline;
    return {
      versionId: this.versionId,
      versions: serving.stats(),
      task: serving.production.pipeline.task,
      headDimension: serves.dim,
      head: { candidates: serves.candidates() },
      storage: durability.store ? 'indexeddb' : 'memory',
      persistence: await persistenceStats(parts.init.store?.persist === true),
      ...this.counts,
      replayed: durability.replayed,
      resets: serving.resets,
      lastSeq: durability.lastSeq,
      snapshots: durability.snapshots,
      outcomesEvicted: storeStats?.outcomesEvicted ?? 0,
      recovered: parts.recoveries.list.map((recovery) => ({ ...recovery })),
      recoveries: parts.recoveries.list.map((recovery) => recovery.message),
      startup: parts.timing.report(),
      ...extensions,
    };
  }

  async close(): Promise<void> {
    await this.hooks.run('stop');
    await this.serialise(async () => {
      // Buffered outcomes are in the log: learned now, or replayed on the next start.
      this.cadence?.flush();
      this.cadence?.dispose();
      await this.durability.snapshot();
    }).catch(() => undefined);
    await this.durability.close();
    await this.hooks.run('close');
    this.durability.store?.close();
    await this.serving.retire();
  }

  /** Replays the log on start (startup.ts): the same pass as `observe`, minus the append. */
  async restore(): Promise<void> {
    this.serving.replaying = true;
    try {
      await this.durability.restore(this.parts.timing, (scored, record: OutcomeRecord) =>
        this.learn(scored, record.seq, record.ts, record.report, record.versionId),
      );
    } finally {
      this.serving.replaying = false;
    }
  }

  /** Runs a task in the queue, after everything queued before it. */
  serialise<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Every version that scored the outcome learns it; the hooks hear the serving version's
   * score (with the staged-minus-production difference when both scored it).
   */
  private learn(
    scored: Scored[],
    seq: number,
    ts: number,
    report: OutcomeReport | undefined,
    servedBy = this.versionId,
  ): void {
    const step = this.serving.learn(scored, seq, servedBy);
    // Stored outcomes count as learned even when a head refused them, so that a replay meets
    // them in the same place and ends in the same state.
    this.counts.observed++;
    const { version, prepared } = step.served;
    const { task, spec } = version.pipeline;
    // Scored before learning either way; the reporter skips what it counted before a restart.
    this.hooks.outcomeLearned({
      seq,
      ts,
      versionId: version.id,
      label: prepared.labels[0],
      loss: prepared.losses[0],
      ...outcomeQuality(task, prepared.predictions[0], prepared.labels[0]),
      ...(step.paired ? { paired: step.paired } : {}),
      ...(step.alarms.length > 0 ? { alarms: step.alarms } : {}),
      ...(step.leader !== undefined ? { leader: step.leader } : {}),
      ...(report?.kind ? { kind: report.kind } : {}),
      ...(report?.slate ? { slate: report.slate } : {}),
      features: measurements(spec, prepared.batch.columns),
    });
    this.durability.learned(seq);
    if (step.failure !== undefined) {
      this.countFailure(step.failure);
      throw step.failure;
    }
  }

  private countFailure(error: unknown): void {
    if (!isLearnerError(error)) return;
    if (error.code === 'NON_FINITE') {
      this.counts.restores++;
      this.emit({ type: 'error', code: error.code, message: error.message });
    } else if (error.code === 'BAD_INPUT' || error.code === 'BAD_LABEL') {
      this.counts.rejected++;
    }
  }
}
