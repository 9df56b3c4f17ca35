/**
 * The autopilot: runs the rollout policy (policy.ts) over every staged version and applies its
 * verdicts through the same store functions as the admin actions (audited with actor `policy`,
 * the numbers in `why` and in the entry's details).
 *
 * When it runs: after metrics ingest (`schedule()`: the first batch starts a `debounceMs` timer,
 * batches meanwhile ride along, and the ingest response never waits), and on demand
 * (`evaluate()`, `POST /v1/admin/policy/evaluate`). Evaluations are chained, so two never run
 * at once in one process; across processes each action re-checks the version under the
 * manifest lock (`expect`), so a version that changed meanwhile is refused, not acted on twice.
 *
 * The admin stays in charge: admin actions work as always, the server option `enabled: false`
 * or a version's `autopilot` switch stop the autopilot acting (its verdicts still show in
 * status, as `off`).
 */
import type { PolicyEvaluation, PolicyVerdict } from '../../src/protocol/admin.ts';
import type { Database } from '../db/database.ts';
import { ApiError } from '../http/errors.ts';
import { promoteVersion, rampVersion, rollbackVersion } from '../store/versions.ts';
import { readEvidence } from './evidence.ts';
import { decide, type ResolvedPolicy, type VersionEvidence } from './policy.ts';

export const POLICY_ACTOR = 'policy';

export interface AutopilotHooks {
  /** Called after an evaluation changed the manifest (announce it to event streams). */
  onChange: () => Promise<void>;
  logError: (message: string, error: unknown) => void;
}

/** Verdicts for the current evidence, without acting (for status). */
export async function readVerdicts(db: Database, policy: ResolvedPolicy): Promise<PolicyVerdict[]> {
  return (await readEvidence(db, policy)).map((evidence) => withSwitch(evidence, policy));
}

function withSwitch(evidence: VersionEvidence, policy: ResolvedPolicy): PolicyVerdict {
  const verdict = decide(evidence, policy);
  const off = !policy.enabled || !evidence.version.autopilot;
  return verdict.decision !== 'hold' && off ? { ...verdict, outcome: 'off' } : verdict;
}

export class Autopilot {
  private tail: Promise<unknown> = Promise.resolve();
  private scheduled: Promise<void> | undefined;
  private cancel: (() => void) | undefined;
  private closed = false;

  private readonly db: Database;
  readonly policy: ResolvedPolicy;
  private readonly hooks: AutopilotHooks;
  constructor(db: Database, policy: ResolvedPolicy, hooks: AutopilotHooks) {
    this.db = db;
    this.policy = policy;
    this.hooks = hooks;
  }

  /** After ingest: evaluate soon, once for every batch until then. Never throws. */
  schedule(): void {
    if (this.closed || !this.policy.enabled || this.scheduled) return;
    this.scheduled = new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.scheduled = undefined;
        this.cancel = undefined;
        // Batches from now on schedule the next evaluation; this one waits for any running.
        this.evaluate()
          .catch((error) => this.hooks.logError('rollout policy evaluation failed', error))
          .finally(resolve);
      }, this.policy.debounceMs);
      this.cancel = () => {
        clearTimeout(timer);
        this.scheduled = undefined;
        this.cancel = undefined;
        resolve();
      };
    });
  }

  /** Evaluates now (after any evaluation under way) and applies the verdicts unless `dryRun`. */
  evaluate(dryRun = false): Promise<PolicyEvaluation> {
    const run = this.tail.then(() => this.run(dryRun));
    this.tail = run.catch(() => {});
    return run;
  }

  /** Resolves once nothing is scheduled or running (tests wait on this, not on time). */
  async idle(): Promise<void> {
    for (;;) {
      if (this.scheduled) {
        await this.scheduled;
        continue;
      }
      const tail = this.tail;
      await tail;
      if (tail === this.tail && !this.scheduled) return;
    }
  }

  /** Cancels a scheduled evaluation and waits for a running one; schedules nothing after. */
  async close(): Promise<void> {
    this.closed = true;
    this.cancel?.();
    await this.tail;
  }

  private async run(dryRun: boolean): Promise<PolicyEvaluation> {
    const evidence = await readEvidence(this.db, this.policy);
    const verdicts: PolicyVerdict[] = [];
    let changed = false;
    let promoted = false;
    for (const item of evidence) {
      let verdict = withSwitch(item, this.policy);
      if (!dryRun && verdict.outcome === 'none' && verdict.decision !== 'hold') {
        // After a promotion the production version changed: other verdicts compared against
        // the old one wait for the next evaluation, except rollbacks (worse than before).
        if (promoted && verdict.decision !== 'rollback')
          verdict = {
            ...verdict,
            decision: 'hold',
            reason: `production changed; ${verdict.reason}`,
          };
        else {
          verdict = await this.apply(item, verdict);
          if (verdict.outcome === 'applied') {
            changed = true;
            promoted ||= verdict.decision === 'promote';
          }
        }
      }
      verdicts.push(verdict);
    }
    if (changed) await this.hooks.onChange();
    return { enabled: this.policy.enabled, verdicts };
  }

  private async apply(item: VersionEvidence, verdict: PolicyVerdict): Promise<PolicyVerdict> {
    const intent = {
      actor: POLICY_ACTOR,
      why: verdict.reason,
      expect: { status: 'staging' as const, weight: item.version.weight },
      details: {
        policy: {
          baseline: verdict.baselineVersionId,
          devices: verdict.devices,
          n: verdict.n,
          meanDiff: verdict.meanDiff,
          lower: verdict.lower,
          upper: verdict.upper,
          guardrailDevices: verdict.guardrailDevices,
          armDevices: verdict.armDevices,
          cappedDevices: verdict.cappedDevices,
          alpha: this.policy.alpha,
        },
      },
    };
    try {
      if (verdict.decision === 'promote') await promoteVersion(this.db, item.version.id, intent);
      else if (verdict.decision === 'rollback')
        await rollbackVersion(this.db, item.version.id, intent);
      else if (verdict.decision === 'ramp' && verdict.toWeight !== undefined)
        await rampVersion(this.db, item.version.id, verdict.toWeight, intent);
      return { ...verdict, outcome: 'applied' };
    } catch (error) {
      if (error instanceof ApiError)
        return { ...verdict, outcome: 'refused', error: `${error.code}: ${error.message}` };
      throw error;
    }
  }
}
