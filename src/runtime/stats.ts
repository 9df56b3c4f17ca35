/**
 * What `stats()` tells: the versions running here, the head, storage and persistence, counts,
 * recoveries, start-up phases, and what the extensions (sync, rollout) add. The types the
 * client re-exports, and the browser's view of this origin's storage.
 */
import type { FeatureSpec } from '../backbone/feature_spec.ts';
import type { FederatedStats } from '../federated/participant.ts';
import type { SyncStats } from '../reporting/sync_stats.ts';
import type { RolloutStats } from '../rollout/rollout.ts';
import type { Recovery } from './recoveries.ts';
import type { StartupPhase } from './startup_timing.ts';

export interface LearnerStats {
  /** The version serving predictions: the staged one in this device's arm, else production. */
  versionId: string;
  /** Production, and the staged version this device serves (with its shadow comparison). */
  versions: VersionsStats;
  task: FeatureSpec['task'];
  /** Width of the head's input (embedding + raw features). */
  headDimension: number;
  /**
   * The serving head's candidates by weight, leader first: the default mixture's SGD and
   * AdaGrad with the share of belief each has earned on this device's outcomes (a single
   * optimizer: itself, weight 1).
   */
  head: { candidates: { name: string; weight: number }[] };
  /** 'indexeddb', or 'memory' when persistence is off or IndexedDB failed. */
  storage: 'indexeddb' | 'memory';
  /** Persistent storage: asked for or not, granted or not, and the quota. */
  persistence: PersistenceStats;
  predictions: number;
  /** Outcomes learned since this learner started (replayed ones included). */
  observed: number;
  /** Outcomes learned again from the log on start, after the latest snapshot. */
  replayed: number;
  /** Outcomes whose id had been seen before: not learned again. */
  duplicates: number;
  /** Inputs and labels refused as bad, with nothing stored or learned. */
  rejected: number;
  /** Times the head's weights went non-finite and were restored. */
  restores: number;
  /** Times the forgetting guard reset the serving head to its version's server head. */
  resets: number;
  /** Sequence number of the last outcome learned. */
  lastSeq: number;
  snapshots: number;
  /** Outcomes the log evicted to stay under its cap (all time, this origin). */
  outcomesEvicted: number;
  /**
   * What went wrong with the stored state and how the learner recovered (a corrupt snapshot
   * skipped, a stored version unusable, IndexedDB unavailable, the state gone: a new install),
   * each with a stable code (src/runtime/recoveries.ts), newest last, at most 50. Also sent as
   * `recovery` events (and those from failures as `error` events), kept here for apps that
   * subscribe later.
   */
  recovered: Recovery[];
  /** The messages of `recovered`, in the same order (from before recoveries had codes). */
  recoveries: string[];
  /** How this learner's start went, phase by phase (src/runtime/startup_timing.ts). */
  startup: StartupPhase[];
  /** Metrics reporting, when `sync` is configured and the store is available. */
  sync?: SyncStats;
  /** The rollout, when `rollout` is configured. */
  rollout?: RolloutStats;
  /** Federated rounds, when `sync` and `rollout` are configured and `federated` is not false. */
  federated?: FederatedStats;
}

export interface VersionsStats {
  production: string;
  staged?: {
    id: string;
    /**
     * Paired comparison on the outcomes both heads scored since staging (this session):
     * d = logloss(staged) − logloss(production), negative when the staged version is better.
     */
    paired: { n: number; diffSum: number; diffSumSq: number };
    /**
     * The mean difference with a time-uniform 95 % bound (src/rollout/confidence_sequence.ts),
     * once `minSamples` outcomes are paired; `verdict` says what this device alone would
     * conclude. The fleet's decision is the server's, over every device's comparisons.
     */
    comparison?: {
      mean: number;
      lower: number;
      upper: number;
      verdict: 'staged better' | 'staged worse' | 'undecided';
    };
  };
  /** Staged versions this device took out of service itself (guardrails). */
  guardrailRollbacks: number;
}

/** What the browser says about keeping this origin's storage (`stats().persistence`). */
export interface PersistenceStats {
  /** The app asked for persistent storage (`store: { persist: true }`). */
  requested: boolean;
  /** Whether the origin's storage is persistent now; null where the browser will not say. */
  persisted: boolean | null;
  /** The browser's estimate of the origin's quota and usage, in bytes; null if unknown. */
  quota: number | null;
  usage: number | null;
}

/** The browser's view of this origin's storage; what it cannot tell is null, never an error. */
export async function persistenceStats(requested: boolean): Promise<PersistenceStats> {
  const storage = globalThis.navigator?.storage;
  const [persisted, estimate] = await Promise.all([
    storage?.persisted ? storage.persisted().catch(() => null) : null,
    storage?.estimate ? storage.estimate().catch(() => undefined) : undefined,
  ]);
  return {
    requested,
    persisted,
    quota: estimate?.quota ?? null,
    usage: estimate?.usage ?? null,
  };
}
