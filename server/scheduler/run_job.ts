/**
 * One retraining job: train a candidate, compare it with production on the same held-out
 * slice, and stage it (weight 0.1 by default) through the admin publish path — actor
 * `scheduler`, audited, the figures in the audit's `why` — only when it is better. Either way
 * the job's result says what happened and why.
 */

import { CodedError } from '../../src/protocol/index.ts';
import * as admin from '../admin.ts';
import type { Database } from '../db/database.ts';
import { ApiError } from '../http/errors.ts';
import { type Job, type JobResult, setProgress, succeedJob } from '../store/jobs.ts';
import { modelBytes } from '../store/models.ts';
import { listVersions } from '../store/versions.ts';
import { sha256Hex } from '../tokens.ts';
import type { Clock } from './clock.ts';
import type { HeldOutMetrics, ProductionModel, Trainer, TrainResult } from './trainer.ts';

export interface JobSettings {
  stagedWeight: number;
  metric: 'logloss' | 'auc';
  minImprovement: number;
}

export interface JobDeps {
  db: Database;
  trainer: Trainer;
  clock: Clock;
  settings: JobSettings;
  /** Called after a publication (the server announces the new manifest). */
  onPublished?: () => Promise<void> | void;
  logError: (message: string, error: unknown) => void;
}

export class TrainerOutputError extends CodedError<'BAD_TRAINER_OUTPUT'> {
  override readonly name = 'TrainerOutputError';
  constructor(message: string, options?: ErrorOptions) {
    super('BAD_TRAINER_OUTPUT', message, options);
  }
}

async function currentProduction(db: Database): Promise<ProductionModel | null> {
  const version = (await listVersions(db)).find((v) => v.status === 'production');
  if (!version) return null;
  const bytes = await modelBytes(db, version.model.sha256);
  if (!bytes) return null;
  return {
    id: version.id,
    semver: version.semver,
    bytes,
    featureSpec: version.featureSpec,
    head: version.head,
  };
}

const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : String(x));

function finiteMetrics(m: HeldOutMetrics | null | undefined): boolean {
  return !!m && Number.isFinite(m.logloss) && Number.isFinite(m.auc);
}

/**
 * Whether the candidate beats production on the configured figure by more than the margin,
 * and the reason in words (with the numbers) either way.
 */
export function judgeCandidate(
  evaluation: TrainResult['evaluation'],
  production: { id: string } | null,
  settings: JobSettings,
): { better: boolean; reason: string } {
  const { candidate, metric } = { candidate: evaluation.candidate, metric: settings.metric };
  const slice = `${evaluation.examples} held-out outcomes (${evaluation.heldOut})`;
  if (!finiteMetrics(candidate))
    return {
      better: false,
      reason: `the candidate has no finite held-out figures (logloss ${fmt(candidate.logloss)}, AUC ${fmt(candidate.auc)}) on ${slice}`,
    };
  if (!production)
    return {
      better: true,
      reason: `no production version to compare with; candidate logloss ${fmt(candidate.logloss)}, AUC ${fmt(candidate.auc)} on ${slice}`,
    };
  const prod = evaluation.production;
  if (!finiteMetrics(prod))
    return {
      better: false,
      reason: `production ${production.id} could not be scored on the held-out slice${evaluation.productionNote ? ` (${evaluation.productionNote})` : ''}; candidate logloss ${fmt(candidate.logloss)}, AUC ${fmt(candidate.auc)}`,
    };
  const p = prod as HeldOutMetrics;
  const gain = metric === 'logloss' ? p.logloss - candidate.logloss : candidate.auc - p.auc;
  const better = gain > settings.minImprovement;
  const figures =
    `logloss ${fmt(candidate.logloss)} vs ${fmt(p.logloss)}, ` +
    `AUC ${fmt(candidate.auc)} vs ${fmt(p.auc)} (candidate vs production ${production.id}) on ${slice}`;
  const verdict = better
    ? `better on ${metric} by ${fmt(gain)} (> ${settings.minImprovement})`
    : `not better on ${metric}: gain ${fmt(gain)}, needs > ${settings.minImprovement}`;
  return { better, reason: `${verdict}; ${figures}` };
}

function checkOutput(result: TrainResult): void {
  if (!(result?.candidate?.bytes instanceof Uint8Array) || result.candidate.bytes.length === 0)
    throw new TrainerOutputError('the trainer returned no model bytes');
  if (typeof result.candidate.featureSpec !== 'object' || result.candidate.featureSpec === null)
    throw new TrainerOutputError('the trainer returned no feature spec');
  if (!result.evaluation?.candidate)
    throw new TrainerOutputError('the trainer returned no held-out evaluation');
}

/**
 * Runs a claimed job to its end: succeeded (published or refused, with the reason) or an
 * error thrown for the caller to count as a failed attempt.
 */
export async function runJob(deps: JobDeps, job: Job, signal: AbortSignal): Promise<JobResult> {
  const { db, trainer, clock, settings } = deps;
  // Progress writes go one after another (never out of order) and are skipped when they
  // would change less than a percent, so a chatty trainer costs few writes.
  let writes: Promise<void> = Promise.resolve();
  let last = { fraction: -1, step: null as string | null };
  const progress = (fraction: number, step?: string): Promise<void> => {
    const value = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
    const stepName = step?.slice(0, 200) ?? null;
    if (Math.abs(value - last.fraction) < 0.01 && stepName === last.step) return writes;
    last = { fraction: value, step: stepName };
    writes = writes
      .then(() => setProgress(db, job.id, value, stepName, clock.now()))
      .catch((error) => deps.logError(`job ${job.id}: progress not stored`, error));
    return writes;
  };

  const production = await currentProduction(db);
  const output = await trainer.train({
    model: job.model,
    jobId: job.id,
    attempt: job.attempts,
    production,
    progress,
    signal,
  });
  await writes;
  signal.throwIfAborted();
  checkOutput(output);
  const verdict = judgeCandidate(output.evaluation, production, settings);
  const evaluation: JobResult['evaluation'] = {
    heldOut: output.evaluation.heldOut,
    examples: output.evaluation.examples,
    metric: settings.metric,
    candidate: output.evaluation.candidate,
    production: output.evaluation.production,
    productionVersion: production?.id ?? null,
    ...(output.evaluation.productionNote
      ? { productionNote: output.evaluation.productionNote }
      : {}),
  };
  const base = { trainer: trainer.description, evaluation };
  let result: JobResult;
  if (!verdict.better) {
    result = { ...base, published: false, reason: `not published: ${verdict.reason}` };
  } else {
    await progress(0.95, 'publish');
    const why = `retrained by job ${job.id} (${job.trigger}: ${job.reason}): ${verdict.reason}`;
    try {
      const bytes = output.candidate.bytes;
      const sha256 = sha256Hex(bytes);
      await admin.uploadModel(db, bytes, sha256, 'scheduler');
      const version = await admin.publish(db, {
        model: { sha256 },
        weight: settings.stagedWeight,
        actor: 'scheduler',
        why: why.slice(0, 1000),
        featureSpec: output.candidate.featureSpec,
        head: output.candidate.head,
        ...(output.candidate.semver ? { semver: output.candidate.semver } : {}),
      });
      result = {
        ...base,
        published: true,
        versionId: version.id,
        semver: version.semver,
        weight: version.weight,
        reason: `staged ${version.id} at weight ${version.weight}: ${verdict.reason}`,
      };
    } catch (error) {
      // A refusal (weights already at 1, a bad spec) would be refused again on a retry.
      if (!(error instanceof ApiError)) throw error;
      result = {
        ...base,
        published: false,
        reason: `not published: the publish was refused (${error.code}: ${error.message}); ${verdict.reason}`,
      };
    }
  }
  await succeedJob(db, job.id, result, clock.now());
  if (result.published) {
    try {
      await deps.onPublished?.();
    } catch (error) {
      deps.logError(`job ${job.id}: announcing the new manifest failed`, error);
    }
  }
  return result;
}
