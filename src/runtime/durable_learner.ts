import type { Backbone } from '../backbone/backbone.ts';
import { loadBackbone } from '../backbone/backbone.ts';
import type { FeatureSpec, FeatureSpecInit } from '../backbone/feature_spec.ts';
import { isIdInput } from '../backbone/feature_spec.ts';
import type { PackedBatch } from '../backbone/features.ts';
import { isLearnerError, LearnerError } from '../errors.ts';
import type { Label } from '../learn/types.ts';
import { confidenceSequence } from '../rollout/confidence_sequence.ts';
import type { GuardrailOptions } from '../rollout/guardrails.ts';
import { Guardrails } from '../rollout/guardrails.ts';
import type { LocalVersions } from '../rollout/plan.ts';
import type { Rollout, RolloutStats } from '../rollout/rollout.ts';
import type { CloseReason, Store, VersionRecord } from '../store/index.ts';
import { isQuotaError, isStoreError, MemoryOutcomeLog, openStore } from '../store/index.ts';
import type { OutcomeReport } from '../store/schema.ts';
import type { SyncOptions } from '../sync/options.ts';
import { resolveSyncOptions } from '../sync/options.ts';
import type { MetricsReporter, SyncStats } from '../sync/reporter.ts';
import type { AdaptationOptions } from './adaptation.ts';
import { Adaptation } from './adaptation.ts';
import type { LearnerEvent } from './events.ts';
import type {
  HeadStart,
  PipelineState,
  PredictionBatch,
  PreparedBatch,
  ScalerStart,
} from './pipeline.ts';
import { Pipeline } from './pipeline.ts';
import type { Recovery } from './recoveries.ts';
import { RecoveryLog } from './recoveries.ts';
import { RunningVersion } from './running_version.ts';
import type { StartupPhase } from './startup_timing.ts';
import { StartupTiming } from './startup_timing.ts';
import type { CadenceOptions } from './update_cadence.ts';
import { UpdateCadence } from './update_cadence.ts';
import type { NewRunningVersion } from './version_store.ts';
import {
  addVersion,
  describe,
  endStaging,
  loadStoredVersion,
  replacedByApp,
  restoreArchived,
} from './version_store.ts';

/** Where the model comes from: bytes the app already has, or a URL the worker fetches. */
export type ModelSource = { bytes: Uint8Array | ArrayBuffer } | { url: string };

export interface PersistenceOptions {
  /** IndexedDB database name (one learner state per name and origin); `false`: memory only. */
  name?: string | false;
  /** Write a head snapshot after this many outcomes (default 50)… */
  snapshotEvery?: number;
  /** …or this long after the first outcome not in a snapshot (default 10 s). */
  snapshotIntervalMs?: number;
  /**
   * Ask the browser to keep this origin's storage under pressure (`navigator.storage.persist()`,
   * default false). Best-effort storage may be evicted, and Safari deletes script-written storage
   * after 7 days without a visit; a persisted origin keeps it. The browser may say no (or ask the
   * person); `stats().persistence` reports the answer either way.
   */
  persist?: boolean;
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

export interface LearnerInit {
  model: ModelSource;
  /**
   * What the model takes and gives, for a model that carries no spec (a PyTorch export) or
   * to override the one it carries: see "Bring your own model" in the README.
   */
  featureSpec?: FeatureSpecInit;
  /** Settings for a fresh head, or the state of a trained one (the version's initial head). */
  head?: HeadStart;
  /**
   * Standardise the head's input with running mean and variance (default true). A version
   * trained elsewhere passes its scaler's state, so its initial head sees the inputs it was
   * trained on.
   */
  scale?: ScalerStart;
  store?: PersistenceOptions;
  /**
   * Report aggregate metrics of what the head learns to a sync server (src/sync). Needs the
   * IndexedDB store (metrics wait in its outbox); only the tab that owns the state reports.
   */
  sync?: SyncOptions;
  /**
   * Take part in staged rollouts (src/rollout): follow the sync server's signed manifest, stage
   * new versions for this device's arm, compare them with production on the same outcomes,
   * promote or roll back as the fleet decides. Needs `sync`.
   */
  rollout?: RolloutOptions;
  /**
   * Adapting to drift: the drift policy raises the learning rate when the person changes
   * (default on), and the forgetting guard resets the head to the version's server head when
   * it has become worse than it (default on). `false` turns either off.
   */
  drift?: AdaptationOptions['drift'];
  forgettingGuard?: AdaptationOptions['forgettingGuard'];
  /**
   * When the heads learn: per event (default), or buffered and released by size and time
   * (`{ mode: 'buffered', maxItems: 50, maxDelayMs: 60_000 }`). Outcomes are stored durably
   * at `observe` either way; buffered ones are learned when the buffer is released.
   */
  cadence?: CadenceOptions;
  /**
   * Where onnxruntime-web's runtime files are fetched from, when not from the app's own build:
   * a URL prefix ending in `/` that serves `ort-wasm-simd-threaded.wasm` and
   * `ort-wasm-simd-threaded.mjs` (copied from `node_modules/onnxruntime-web/dist/`, with CORS
   * headers if on another origin), or the URL of the `.wasm` alone. By default the bundler's
   * copy is used (see "Installing" in the README).
   */
  wasmPaths?: string;
}

/** How the app says what an outcome was (see `Learner.observe`). */
export interface ObserveOptions {
  /** What the user did with the shown prediction: for CTR and conversion counts. */
  kind?: OutcomeReport['kind'];
  /** The slate (a `predict` over candidates with `slate`) and this candidate's index in it. */
  slate?: OutcomeReport['slate'];
}

/** A `predict` over candidates that the app will report outcomes on (ranking metrics). */
export interface PredictOptions {
  slate?: { id: string; surface?: string };
}

export interface RolloutOptions {
  /** The key manifests are signed with (`GET /v1/public-key`'s `raw`, base64): built into the app. */
  publicKey?: string;
  /**
   * Several keys, for a rotation (server/README.md, "Rotating the signing key"): manifests
   * signed by any of them are accepted. With `publicKey` too, all are used.
   */
  publicKeys?: string[];
  /** Check the manifest at least this often while the live stream is down (default 5 min, ±20 %). */
  pollIntervalMs?: number;
  /** Listen to the server's events for an immediate push of a new manifest (default true). */
  live?: boolean;
  /** Model downloads larger than this are refused (default 64 MiB). */
  maxModelBytes?: number;
  /** When a staged version is taken out of service on the device at once. */
  guardrails?: GuardrailOptions;
  /**
   * The oldest manifest this build of the app takes, so that a fresh install (or cleared
   * storage) can never be sent below its own build by a replayed older manifest: the manifest
   * revision current when the app was built (`GET /v1/manifest`'s `revision`), or an ISO
   * 8601 UTC time its `issuedAt` must not precede (e.g. the build time). Older manifests are
   * refused (`below_floor`). Default: none.
   */
  notBefore?: number | string;
}

export interface ObserveResult {
  /** The outcome's place in the log: the order outcomes are learned in. */
  seq: number;
  /** The outcome id was seen before: nothing was stored or learned this time. */
  duplicate: boolean;
}

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

const DEFAULTS = { name: 'localfit', snapshotEvery: 50, snapshotIntervalMs: 10_000 };

/**
 * When the store goes away under a running learner — deleted (another tab, the site's data
 * cleared while the page runs) or dropped by the browser — nothing more can be stored, and a
 * learner that carried on would fail every call. Its owner (worker_api.ts) closes it and opens
 * a new one on the same options instead, as a reload would: a deleted database is a new install
 * from the version's head (the deletion is respected, not undone from memory).
 */
export interface RestartOptions {
  /** Called once when the store goes away (not for another tab's upgrade). */
  onStoreLost?: (reason: CloseReason) => void;
  /** This open follows such a loss: say so in the recovery. */
  after?: CloseReason;
}
const REPLAY_PAGE = 256;

async function modelBytes(source: ModelSource): Promise<Uint8Array> {
  if ('bytes' in source) {
    return source.bytes instanceof Uint8Array ? source.bytes : new Uint8Array(source.bytes);
  }
  const response = await fetch(source.url);
  if (!response.ok) {
    throw new LearnerError('BAD_MODEL', `fetching ${source.url} failed: HTTP ${response.status}`);
  }
  return new Uint8Array(await response.arrayBuffer());
}

/**
 * The example's values for the metrics' feature moments: ids name things rather than measure
 * them (their mean means nothing, and one id can identify what the person chose), so they stay.
 */
function measurements(spec: FeatureSpec, columns: PackedBatch['columns']): PackedBatch['columns'] {
  const ids = spec.inputs.filter(isIdInput);
  if (ids.length === 0) return columns;
  const kept = { ...columns };
  for (const input of ids) delete kept[input.name];
  return kept;
}

/** One outcome checked and scored by a version, ready for it to learn. */
interface Scored {
  version: RunningVersion;
  prepared: PreparedBatch;
}

/** An outcome stored and scored, waiting in the update cadence's buffer to be learned. */
interface Pending {
  scored: Scored[];
  seq: number;
  ts: number;
  report: OutcomeReport | undefined;
}

/** What the app said about an outcome, as the log keeps it (undefined: nothing). */
function outcomeReport(options: ObserveOptions): OutcomeReport | undefined {
  const report: OutcomeReport = {};
  if (options.kind !== undefined) {
    if (!['impression', 'click', 'conversion'].includes(options.kind)) {
      throw new LearnerError('BAD_INPUT', `unknown outcome kind ${String(options.kind)}`);
    }
    report.kind = options.kind;
  }
  if (options.slate !== undefined) {
    const { id, candidate, gain } = options.slate;
    if (typeof id !== 'string' || id === '' || !Number.isInteger(candidate) || candidate < 0) {
      throw new LearnerError(
        'BAD_INPUT',
        'a slate outcome needs the slate id and a candidate index',
      );
    }
    if (gain !== undefined && !(Number.isFinite(gain) && gain >= 0)) {
      throw new LearnerError('BAD_INPUT', 'a slate gain is a finite number ≥ 0');
    }
    report.slate = { id, candidate, ...(gain !== undefined ? { gain } : {}) };
  }
  return report.kind || report.slate ? report : undefined;
}

/**
 * The learner with a memory (design invariant 1): every outcome is in IndexedDB before
 * `observe` resolves, the heads learn it at once, snapshots of the heads are written by size and
 * time triggers, and on start the latest valid snapshots are loaded and the outcomes after them
 * are learned again. An outcome id is stored — and so learned — once.
 *
 * It runs production and, when the rollout gives this device a staged version, that one too
 * (design, "Shadow evaluation"): the staged version serves predictions, both heads score every
 * outcome before learning it (a paired comparison on the very same outcomes) and both learn it,
 * so whichever version wins takes over already personalised.
 */
export class DurableLearner {
  private queue: Promise<unknown> = Promise.resolve();
  private snapshotWrites: Promise<unknown> = Promise.resolve();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private sinceSnapshot = 0;
  /** Without IndexedDB: the ids already learned, so a repeated id is learned once. */
  private readonly memoryLog = new MemoryOutcomeLog();
  private staged: RunningVersion | undefined;
  private paired = { n: 0, diffSum: 0, diffSumSq: 0 };
  private readonly adaptations = new Map<RunningVersion, Adaptation>();
  private cadence: UpdateCadence<Pending> | undefined;
  private replaying = false;
  private guardrails: Guardrails;
  private counts = {
    predictions: 0,
    observed: 0,
    replayed: 0,
    duplicates: 0,
    rejected: 0,
    restores: 0,
    snapshots: 0,
    guardrailRollbacks: 0,
    resets: 0,
  };

  private production: RunningVersion;
  private readonly store: Store | undefined;
  private lastSeq: number;
  private readonly options: Required<PersistenceOptions>;
  private emit: (event: LearnerEvent) => void;
  private readonly init: LearnerInit;
  private constructor(
    production: RunningVersion,
    store: Store | undefined,
    lastSeq: number,
    options: Required<PersistenceOptions>,
    emit: (event: LearnerEvent) => void,
    init: LearnerInit,
  ) {
    this.production = production;
    this.store = store;
    this.lastSeq = lastSeq;
    this.options = options;
    this.emit = emit;
    this.init = init;
    this.guardrails = new Guardrails(init.rollout?.guardrails);
    if (init.cadence && init.cadence.mode !== 'event') {
      this.cadence = new UpdateCadence<Pending>(
        init.cadence,
        (items) => {
          for (const item of items) this.learn(item.scored, item.seq, item.ts, item.report);
        },
        {
          onError: (error) =>
            this.emit({ type: 'error', code: 'INTERNAL', message: `learning: ${describe(error)}` }),
        },
      );
    }
  }

  private recoveries: RecoveryLog = new RecoveryLog(() => {});
  private timing = new StartupTiming();
  private reporter: MetricsReporter | undefined;
  private rollout: Rollout | undefined;

  static async open(
    init: LearnerInit,
    emitEvent: (event: LearnerEvent) => void,
    restart: RestartOptions = {},
  ): Promise<DurableLearner> {
    const recoveries = new RecoveryLog(emitEvent);
    // While starting, every failure is something the learner recovered from (as before codes).
    const emit = (event: LearnerEvent) => {
      if (event.type === 'error') recoveries.note('START_ERROR', event.message);
      emitEvent(event);
    };
    const options = { ...DEFAULTS, ...init.store } as Required<PersistenceOptions>;
    if (init.sync) resolveSyncOptions(init.sync); // a BAD_CONFIG before anything is opened
    if (init.rollout && !init.sync) {
      throw new LearnerError('BAD_CONFIG', 'rollout needs sync: the server to follow');
    }
    const timing = new StartupTiming();
    const { name } = options;
    const opening =
      name === false
        ? Promise.resolve(undefined)
        : timing.time('database open', () =>
            openOrReport(name, recoveries, restart.onStoreLost, restart.after),
          );
    const fetching = timing.time('model fetch', () => modelBytes(init.model));
    // The app's model is what serves on almost every start (a first visit, or a stored
    // production that is the app's own): its session is created — and onnxruntime's wasm
    // fetched and compiled — while the database opens, instead of after it.
    const loading = fetching.then((bytes) =>
      timing.time('backbone load', () => loadBackbone(bytes, init.featureSpec)),
    );
    loading.catch(() => undefined); // awaited, and its error thrown, only where it is used
    const [store, given] = await Promise.all([opening, fetching]);
    const stored = await store?.versions.production();
    const preloaded = await loading.catch(() => undefined);
    let production =
      stored && !(await replacedByApp(stored, given))
        ? await timing.time('stored version', () =>
            loadOrReport(store!, stored, recoveries, given, preloaded),
          )
        : undefined;
    // A server's version serves: the app's session was made for nothing.
    if (production && production.pipeline.backbone !== preloaded) await preloaded?.release();
    // The app's model as the first production: stored (its bytes, record and initial snapshot,
    // several transactions, tens of ms on a first visit) while the first predictions are
    // served; the learner's queue runs it first, so no outcome is appended before it.
    let storing: Promise<void> | undefined;
    if (!production) {
      const backbone = await loading;
      const pipeline = Pipeline.create(backbone, init.head, init.scale ?? true);
      const initial = { ...pipeline.exportState(), seq: (await store?.outcomes.lastSeq()) ?? 0 };
      production = new RunningVersion(pipeline, initial);
      if (store) {
        const record = { id: pipeline.versionId, semver: '0.0.0', modelSha256: pipeline.versionId };
        storing = addVersion(
          store,
          {
            record: { ...record, featureSpec: pipeline.spec },
            bytes: given,
            pipeline,
            source: 'app',
          },
          initial,
          'production',
          'app update',
        ).catch((error: unknown) =>
          recoveries.add('MODEL_NOT_STORED', `could not store the model: ${describe(error)}`),
        );
      }
    }
    const learner = new DurableLearner(
      production,
      store,
      production.initial.seq,
      options,
      emit,
      init,
    );
    learner.timing = timing;
    learner.recoveries = recoveries;
    if (storing) void learner.serialise(() => storing);
    if (store) learner.staged = await timing.time('staged load', () => learner.loadStaged(store));
    if (init.sync) {
      // The reporter and the rollout read the stored versions.
      await storing;
      const { pipeline } = production;
      learner.reporter = await timing.time('reporter open', () =>
        openReporter(store, init.sync!, pipeline, recoveries),
      );
    }
    if (store) await learner.restore(store);
    learner.reporter?.start();
    const reporter = learner.reporter;
    if (init.rollout && store && reporter) {
      // Loaded only by apps that follow a server: most of the worker's code is sync's.
      const { Rollout } = await import('../rollout/rollout.ts');
      learner.rollout = await timing.time('rollout start', () =>
        Rollout.start(learner, store, init, () => reporter.installId()),
      );
    } else if (init.rollout) {
      recoveries.add('ROLLOUT_OFF', 'rollouts are off: they need IndexedDB');
    }
    learner.emit = emitEvent;
    return learner;
  }

  /** The version serving predictions. */
  get versionId(): string {
    return this.serving.id;
  }

  get spec(): FeatureSpec {
    return this.serving.pipeline.spec;
  }

  private get serving(): RunningVersion {
    return this.staged ?? this.production;
  }

  async predict(batch: PackedBatch, options: PredictOptions = {}): Promise<PredictionBatch> {
    const staged = this.staged;
    let result: PredictionBatch | undefined;
    try {
      if (staged) result = await this.predictStaged(staged, batch);
      result ??= await this.production.predict(batch);
    } catch (error) {
      this.countFailure(error);
      throw error;
    }
    this.counts.predictions += batch.n;
    const { slate } = options;
    if (slate && this.reporter) {
      this.reporter.openSlate({
        id: slate.id,
        versionId: result.versionId,
        scores: result.scores,
        ...(slate.surface !== undefined ? { surface: slate.surface } : {}),
      });
    }
    return result;
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
    const reason = this.guardrails.checkPrediction(result.scores, performance.now() - started);
    if (reason?.startsWith('non_finite')) {
      this.guardrailTripped(staged, reason);
      return undefined;
    }
    if (reason) this.guardrailTripped(staged, reason); // slow, but this answer is a good one
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
      const scored = await this.score(batch, label);
      const ts = Date.now();
      const { seq, duplicate } = await this.append(batch, label, clientId, ts, report);
      if (duplicate) {
        this.counts.duplicates++;
        return { seq, duplicate };
      }
      if (this.cadence) this.cadence.push({ scored, seq, ts, report });
      else this.learn(scored, seq, ts, report);
      return { seq, duplicate };
    });
  }

  /**
   * Checks and scores the outcome with every running version, changing nothing: bad input
   * throws here, before anything is stored; a staged version that fails where production did not
   * is taken out of service.
   */
  private async score(batch: PackedBatch, label: Label): Promise<Scored[]> {
    let prepared: PreparedBatch;
    try {
      prepared = await this.production.pipeline.prepare(batch, [label]);
    } catch (error) {
      this.countFailure(error);
      throw error;
    }
    const scored: Scored[] = [{ version: this.production, prepared }];
    const staged = this.staged;
    if (staged) {
      try {
        const stagedPrepared = await staged.pipeline.prepare(batch, [label]);
        const reason = this.guardrails.checkLoss(stagedPrepared.losses[0]);
        if (reason) this.guardrailTripped(staged, reason);
        else scored.push({ version: staged, prepared: stagedPrepared });
      } catch (error) {
        this.guardrailTripped(staged, Guardrails.error(error));
      }
    }
    return scored;
  }

  /**
   * Writes a snapshot now if anything was learned since the last one (e.g. the page hides),
   * then closes the open metric windows and sends what is due — outside the queue, so
   * outcomes keep flowing while a request is out.
   */
  async flush(): Promise<void> {
    await this.serialise(async () => {
      this.cadence?.flush();
      await this.snapshot();
    });
    await this.reporter?.flush();
  }

  async stats(): Promise<LearnerStats> {
    const storeStats = await this.store?.stats().catch(() => undefined);
    const sync = await this.reporter?.stats().catch(() => undefined);
    const { guardrailRollbacks, ...counts } = this.counts;
    const comparison = this.paired.n >= MIN_PAIRED_SAMPLES ? compare(this.paired) : undefined;
    return {
      versionId: this.versionId,
      versions: {
        production: this.production.id,
        ...(this.staged
          ? {
              staged: {
                id: this.staged.id,
                paired: { ...this.paired },
                ...(comparison ? { comparison } : {}),
              },
            }
          : {}),
        guardrailRollbacks,
      },
      task: this.production.pipeline.task,
      headDimension: this.serving.pipeline.dim,
      head: { candidates: this.serving.pipeline.candidates() },
      storage: this.store ? 'indexeddb' : 'memory',
      persistence: await persistenceStats(this.options.persist === true),
      ...counts,
      lastSeq: this.lastSeq,
      outcomesEvicted: storeStats?.outcomesEvicted ?? 0,
      recovered: this.recoveries.list.map((recovery) => ({ ...recovery })),
      recoveries: this.recoveries.list.map((recovery) => recovery.message),
      startup: this.timing.report(),
      ...(sync ? { sync } : {}),
      ...(this.rollout ? { rollout: this.rollout.stats() } : {}),
    };
  }

  /** Checks the server's manifest now and acts on it; resolves when done. */
  async checkForUpdates(): Promise<void> {
    await this.rollout?.check();
  }

  async close(): Promise<void> {
    await this.rollout?.stop();
    await this.serialise(async () => {
      // Buffered outcomes are in the log: learned now, or replayed on the next start.
      this.cadence?.flush();
      this.cadence?.dispose();
      await this.snapshot();
    }).catch(() => undefined);
    clearTimeout(this.timer);
    await this.snapshotWrites;
    await this.reporter?.close();
    this.store?.close();
    await Promise.all([this.production.retire(), this.staged?.retire()]);
  }

  // ─── the rollout's side (src/rollout/rollout.ts drives these) ─────────────────────────────

  /** What runs here, for planning the rollout (src/rollout/plan.ts). */
  async localVersions(refused: (id: string) => boolean): Promise<LocalVersions> {
    const stored = (await this.store?.versions.list()) ?? [];
    const statuses = new Map(stored.map((version) => [version.id, version.status]));
    const guardrailed = new Set(
      stored
        .filter((version) => version.history.at(-1)?.reason?.startsWith('guardrail'))
        .map((version) => version.id),
    );
    return {
      production: { id: this.production.id, sha256: this.production.pipeline.backbone.sha256 },
      ...(this.staged ? { staged: { id: this.staged.id } } : {}),
      status: (id) => statuses.get(id),
      refused,
      guardrailed: (id) => guardrailed.has(id),
    };
  }

  /** The outcomes' input must mean the same to every version the app may be served by. */
  compatible(pipeline: Pipeline): string | undefined {
    const ours = this.production.pipeline.spec;
    const theirs = pipeline.spec;
    if (theirs.task !== ours.task) return `the task is ${theirs.task}, production's ${ours.task}`;
    if (JSON.stringify(theirs.classes ?? null) !== JSON.stringify(ours.classes ?? null)) {
      return 'the classes differ from production';
    }
    const inputs = (spec: FeatureSpec) =>
      JSON.stringify(
        spec.inputs.map((input) => [input.name, input.size, input.dtype ?? 'float32']),
      );
    if (inputs(theirs) !== inputs(ours)) return 'the inputs differ from production';
    return undefined;
  }

  /** Stages a verified version: it serves from now on, production keeps learning in its shadow. */
  stage(added: NewRunningVersion): Promise<void> {
    return this.serialise(async () => {
      const store = this.requireStore();
      const initial = { ...added.pipeline.exportState(), seq: this.lastSeq };
      await this.snapshot();
      await addVersion(store, added, initial, 'staging', 'staged by the rollout');
      const previous = this.staged;
      this.staged = new RunningVersion(added.pipeline, initial);
      this.paired = { n: 0, diffSum: 0, diffSumSq: 0 };
      this.guardrails = new Guardrails(this.init.rollout?.guardrails);
      this.announce('staged', added.record.id, undefined, swapTime(added));
      await previous?.retire();
    });
  }

  /** The staged version becomes production here too, with everything it learned. */
  promoteStaged(reason: string): Promise<void> {
    return this.serialise(async () => {
      const staged = this.staged;
      if (!staged) return;
      await this.snapshot();
      await endStaging(this.requireStore(), staged.id, 'production', reason);
      const previous = this.production;
      this.production = staged;
      this.staged = undefined;
      this.announce('promoted', staged.id, reason);
      await previous.retire();
    });
  }

  /** Takes the staged version out of service (the server pulled it, or the device left its arm). */
  dropStaged(reason: string): Promise<void> {
    return this.serialise(async () => {
      const staged = this.staged;
      if (!staged) return;
      this.staged = undefined;
      await endStaging(this.requireStore(), staged.id, 'rolled_back', reason).catch(() => {});
      this.announce('rolled_back', staged.id, reason);
      await staged.retire();
    });
  }

  /** Instant rollback to an archived version kept in IndexedDB. */
  restoreArchived(id: string, reason: string): Promise<void> {
    return this.serialise(async () => {
      const store = this.requireStore();
      const record = await store.versions.get(id);
      if (!record) throw new LearnerError('STORAGE', `no stored version ${id}`);
      const restored = await loadStoredVersion(store, record);
      await this.snapshot();
      await restoreArchived(store, id, reason);
      await this.catchUp(store, restored);
      const previous = this.production;
      this.production = restored;
      this.announce('installed', id, reason);
      await previous.retire();
    });
  }

  /**
   * A new production version, loaded and warmed before the switch (swap without a gap). With
   * `carry`, it starts from what the current production learned (same bytes under the
   * server's id: nothing to relearn).
   */
  installProduction(added: NewRunningVersion, carry: boolean, reason: string): Promise<void> {
    return this.serialise(async () => {
      const store = this.requireStore();
      await this.snapshot();
      if (carry) added.pipeline.restore(this.production.pipeline.exportState());
      const initial = { ...added.pipeline.exportState(), seq: this.lastSeq };
      await addVersion(store, added, initial, 'production', reason);
      const previous = this.production;
      this.production = new RunningVersion(added.pipeline, initial);
      this.announce('installed', added.record.id, reason, swapTime(added));
      await previous.retire();
    });
  }

  /**
   * A refusal or a local rollback, told to the app and to the server. A refused manifest names
   * no version (`versionId` is 'manifest'): the app hears of it and `stats().rollout` counts
   * it, but there is no version to report it under. So does a stale manifest (the held one
   * expired and no newer one arrives).
   */
  reportRollout(
    versionId: string,
    kind: 'refused' | 'rolled_back' | 'stale_manifest',
    reason: string,
  ): void {
    this.emit({ type: 'rollout', action: kind, versionId, reason });
    if (versionId !== 'manifest' && kind !== 'stale_manifest') {
      this.reporter?.recordVersionEvent(versionId, { kind, at: Date.now(), reason });
    }
  }

  private guardrailTripped(staged: RunningVersion, reason: string): void {
    if (this.staged !== staged) return; // already out of service
    this.staged = undefined;
    this.counts.guardrailRollbacks++;
    this.reportRollout(staged.id, 'rolled_back', `guardrail ${reason}`);
    void this.serialise(async () => {
      await endStaging(this.requireStore(), staged.id, 'rolled_back', `guardrail ${reason}`);
    }).catch((error: unknown) =>
      this.emit({
        type: 'error',
        code: 'STORAGE',
        message: `recording a rollback: ${describe(error)}`,
      }),
    );
    void staged.retire();
    this.emit({
      type: 'version',
      versionId: this.production.id,
      spec: this.production.pipeline.spec,
    });
  }

  private announce(
    action: 'staged' | 'promoted' | 'rolled_back' | 'installed',
    versionId: string,
    reason?: string,
    swapMs?: number,
  ): void {
    this.emit({
      type: 'rollout',
      action,
      versionId,
      ...(reason ? { reason } : {}),
      ...(swapMs !== undefined ? { swapMs } : {}),
    });
    if (action !== 'installed') {
      this.reporter?.recordVersionEvent(versionId, {
        kind: action,
        at: Date.now(),
        ...(reason ? { reason } : {}),
      });
    }
    this.emit({ type: 'version', versionId: this.serving.id, spec: this.serving.pipeline.spec });
  }

  private requireStore(): Store {
    if (!this.store) throw new LearnerError('STORAGE', 'rollouts need the IndexedDB store');
    return this.store;
  }

  // ─── storage ──────────────────────────────────────────────────────────────────────────

  private async append(
    batch: PackedBatch,
    label: Label,
    clientId: string,
    ts: number,
    report: OutcomeReport | undefined,
  ): Promise<ObserveResult> {
    if (!this.store) return this.memoryLog.append(clientId, this.lastSeq);
    try {
      return await this.store.outcomes.append({
        clientId,
        versionId: this.versionId,
        example: batch,
        label,
        ts,
        ...(report ? { report } : {}),
      });
    } catch (error) {
      // Nothing of this outcome was stored (a write commits whole or not at all), nor learned.
      throw new LearnerError(
        storageCode(error),
        `the outcome could not be stored: ${describe(error)}`,
      );
    }
  }

  /**
   * Every version that scored the outcome learns it; the serving one's score is what the
   * reporter counts, with the staged-minus-production loss difference when both scored it.
   */
  private learn(
    scored: Scored[],
    seq: number,
    ts: number,
    report: OutcomeReport | undefined,
    servedBy = this.versionId,
  ): void {
    let failure: unknown;
    let alarms: string[] = [];
    // Before learning: the candidate whose weight led when the outcome was scored.
    const leader = (
      scored.find((entry) => entry.version.id === servedBy) ?? scored[0]
    )?.version.pipeline.leader();
    for (const { version, prepared } of scored) {
      try {
        const step = this.adaptationOf(version).beforeLearning(prepared);
        if (version.id === servedBy) {
          alarms = step.alarms;
          this.announceAdaptation(version, step, seq);
        }
        version.pipeline.learn(prepared);
      } catch (error) {
        if (version === this.staged) this.guardrailTripped(version, Guardrails.error(error));
        else failure ??= error;
      }
    }
    // Stored outcomes count as learned even when a head refused them, so that a replay meets
    // them in the same place and ends in the same state.
    this.lastSeq = seq;
    this.counts.observed++;
    const served = scored.find((entry) => entry.version.id === servedBy) ?? scored[0];
    const baseline = scored.find((entry) => entry.version === this.production);
    const pairedDiff =
      served !== baseline && baseline
        ? served.prepared.losses[0] - baseline.prepared.losses[0]
        : undefined;
    if (pairedDiff !== undefined && Number.isFinite(pairedDiff)) {
      this.paired.n++;
      this.paired.diffSum += pairedDiff;
      this.paired.diffSumSq += pairedDiff * pairedDiff;
    }
    // Scored before learning either way; the reporter skips what it counted before a restart.
    this.reporter?.record({
      seq,
      ts,
      versionId: served.version.id,
      label: served.prepared.labels[0],
      loss: served.prepared.losses[0],
      ...outcomeQuality(
        served.version.pipeline.task,
        served.prepared.predictions[0],
        served.prepared.labels[0],
      ),
      ...(pairedDiff !== undefined && baseline
        ? { paired: { baselineVersionId: baseline.version.id, diff: pairedDiff } }
        : {}),
      ...(alarms.length > 0 ? { alarms } : {}),
      ...(leader !== undefined ? { leader } : {}),
      ...(report?.kind ? { kind: report.kind } : {}),
      ...(report?.slate ? { slate: report.slate } : {}),
      features: measurements(served.version.pipeline.spec, served.prepared.batch.columns),
    });
    this.afterLearning();
    if (failure) {
      this.countFailure(failure);
      throw failure;
    }
  }

  private adaptationOf(version: RunningVersion): Adaptation {
    let adaptation = this.adaptations.get(version);
    if (!adaptation) {
      adaptation = new Adaptation(version, {
        drift: this.init.drift,
        forgettingGuard: this.init.forgettingGuard,
      });
      this.adaptations.set(version, adaptation);
    }
    return adaptation;
  }

  /** Drift events and resets of the serving version, told to the app (not while replaying). */
  private announceAdaptation(
    version: RunningVersion,
    step: ReturnType<Adaptation['beforeLearning']>,
    seq: number,
  ): void {
    if (this.replaying) return;
    for (const event of step.events) {
      this.emit({
        type: 'drift',
        versionId: version.id,
        seq,
        kind: event.kind,
        detector: event.detector,
        severity: event.severity,
        multiplier: event.multiplier,
      });
    }
    if (step.reset) {
      const { n, deviceMean, baselineMean, difference } = step.reset;
      this.counts.resets++;
      this.emit({
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

  private afterLearning(): void {
    if (!this.store) return;
    this.sinceSnapshot++;
    if (this.sinceSnapshot >= this.options.snapshotEvery) {
      void this.snapshot();
    } else if (!this.timer) {
      this.timer = setTimeout(
        () => void this.flush().catch(() => undefined),
        this.options.snapshotIntervalMs,
      );
    }
  }

  /** Captures the states synchronously, then writes them in order behind earlier writes. */
  private snapshot(): Promise<unknown> {
    clearTimeout(this.timer);
    this.timer = undefined;
    // A store that went away (see RestartOptions): nothing can be written, nor need be.
    if (!this.store || this.store.closed || this.sinceSnapshot === 0) return this.snapshotWrites;
    const store = this.store;
    const seq = this.lastSeq;
    const states = [this.production, this.staged]
      .filter((version): version is RunningVersion => version !== undefined)
      .map((version) => ({ versionId: version.id, seq, ...version.pipeline.exportState() }));
    this.sinceSnapshot = 0;
    this.snapshotWrites = this.snapshotWrites
      .then(async () => {
        // The reporter's saved state must cover at least what the snapshot covers (see
        // src/sync/reporter.ts); if it cannot be saved, the snapshot still matters more.
        await this.reporter?.checkpoint().catch(() => undefined);
        for (const state of states) await store.snapshots.write(state);
        this.counts.snapshots++;
        await store.outcomes.compact(await store.snapshots.coveredSeq());
      })
      .catch((error: unknown) => {
        // The outcomes stay in the log, so nothing is lost: the next snapshot covers them.
        this.emit({
          type: 'error',
          code: storageCode(error),
          message: `snapshot failed: ${describe(error)}`,
        });
      });
    return this.snapshotWrites;
  }

  /** The staged version as stored, or undefined; one that cannot load is rolled back. */
  private async loadStaged(store: Store): Promise<RunningVersion | undefined> {
    const [latest, ...older] = (await store.versions.list('staging')).sort(
      (a, b) => b.updatedAt - a.updatedAt,
    );
    for (const version of older) {
      await endStaging(store, version.id, 'rolled_back', 'superseded').catch(() => {});
    }
    if (!latest) return undefined;
    const loaded = await loadOrReport(store, latest, this.recoveries);
    if (!loaded || this.compatible(loaded.pipeline)) {
      await endStaging(store, latest.id, 'rolled_back', 'unusable on start').catch(() => {});
      await loaded?.retire();
      return undefined;
    }
    return loaded;
  }

  /** Latest valid snapshots, then the outcomes after them, in order (design invariant 1). */
  private async restore(store: Store): Promise<void> {
    this.replaying = true;
    try {
      await this.replay(store);
    } finally {
      this.replaying = false;
    }
  }

  private async replay(store: Store): Promise<void> {
    const running = [this.production, this.staged].filter(
      (version): version is RunningVersion => version !== undefined,
    );
    const seqs = new Map<RunningVersion, number>();
    await this.timing.time('snapshot load', async () => {
      for (const version of running) seqs.set(version, await this.restoreSnapshot(store, version));
    });
    this.lastSeq = Math.min(...seqs.values());
    await this.timing.time('replay', () => this.replayLog(store, running, seqs));
  }

  private async replayLog(
    store: Store,
    running: RunningVersion[],
    seqs: Map<RunningVersion, number>,
  ): Promise<void> {
    for (;;) {
      const page = await store.outcomes.after(this.lastSeq, REPLAY_PAGE);
      for (const record of page) {
        const scored: Scored[] = [];
        for (const version of running) {
          if ((seqs.get(version) ?? 0) >= record.seq) continue;
          try {
            scored.push({
              version,
              prepared: await version.pipeline.prepare(record.example, [record.label]),
            });
          } catch (error) {
            if (!isLearnerError(error)) throw error;
          }
        }
        if (scored.length > 0) {
          try {
            this.learn(scored, record.seq, record.ts, record.report, record.versionId);
          } catch (error) {
            if (!isLearnerError(error)) throw error;
          }
        }
        this.lastSeq = record.seq;
        this.counts.replayed++;
      }
      if (page.length < REPLAY_PAGE) break;
    }
  }

  /** Brings a version back from its snapshot and the log, as on start. */
  private async catchUp(store: Store, version: RunningVersion): Promise<void> {
    let seq = await this.restoreSnapshot(store, version);
    for (;;) {
      const page = await store.outcomes.after(seq, REPLAY_PAGE);
      for (const record of page) {
        if (record.seq > this.lastSeq) break;
        try {
          version.pipeline.learn(await version.pipeline.prepare(record.example, [record.label]));
        } catch (error) {
          if (!isLearnerError(error)) throw error;
        }
        seq = record.seq;
      }
      if (page.length < REPLAY_PAGE || seq >= this.lastSeq) break;
    }
  }

  /** Loads a version's latest valid snapshot (or its initial state); returns the seq it covers. */
  private async restoreSnapshot(store: Store, version: RunningVersion): Promise<number> {
    const { snapshot, corrupt } = await store.snapshots.latestValid(version.id);
    if (corrupt > 0) {
      this.recoveries.add(
        'SNAPSHOT_CORRUPT',
        `${corrupt} snapshot(s) failed their checksum (version ${version.id}); restored from an older state`,
      );
    }
    if (snapshot) {
      version.pipeline.restore({
        head: snapshot.head,
        scaler: snapshot.scaler as PipelineState['scaler'],
      });
      return snapshot.seq;
    }
    version.pipeline.restore(version.initial);
    return version.initial.seq;
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

  private serialise<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

/** QUOTA for a write refused for lack of room (see LearnerErrorCode), else STORAGE. */
function storageCode(error: unknown): 'QUOTA' | 'STORAGE' {
  return isQuotaError(error) ? 'QUOTA' : 'STORAGE';
}

/** Paired outcomes before a device's own comparison is shown (the bound is loose below it). */
const MIN_PAIRED_SAMPLES = 100;

function compare(paired: { n: number; diffSum: number; diffSumSq: number }) {
  const bound = confidenceSequence({ n: paired.n, sum: paired.diffSum, sumSq: paired.diffSumSq });
  if (!bound) return undefined; // non-finite sums: nothing to conclude
  const verdict =
    bound.upper < 0 ? 'staged better' : bound.lower > 0 ? 'staged worse' : 'undecided';
  return { mean: bound.mean, lower: bound.lower, upper: bound.upper, verdict } as const;
}

function swapTime(added: NewRunningVersion): number | undefined {
  return added.verifiedAt === undefined ? undefined : performance.now() - added.verifiedAt;
}

/** What the loss alone does not tell the reporter: a regression's value, a multiclass hit. */
function outcomeQuality(
  task: FeatureSpec['task'],
  predicted: Label,
  label: Label,
): { prediction?: number; correct?: boolean } {
  if (task === 'regression') return { prediction: predicted as number };
  if (task === 'multiclass') return { correct: predicted === label };
  return {};
}

/** The browser's view of this origin's storage; what it cannot tell is null, never an error. */
async function persistenceStats(requested: boolean): Promise<PersistenceStats> {
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

/**
 * IndexedDB can be missing, full, blocked or newer than this code; the learner then keeps
 * serving from memory and says so, rather than failing the app.
 */
async function openOrReport(
  name: string,
  recoveries: RecoveryLog,
  onStoreLost?: (reason: CloseReason) => void,
  after?: CloseReason,
) {
  try {
    const store = await openStore(name, {
      onClose: (reason) => {
        // Another tab's upgrade is that tab's business (see OpenOptions.onClose).
        if (reason !== 'versionchange') onStoreLost?.(reason);
      },
    });
    for (const message of store.recoveries) recoveries.add('STORE_REPAIRED', message);
    if (store.created) {
      const why =
        after === undefined
          ? "a first start here, or the browser removed the stored state: eviction, Safari's 7 days without a visit, site data cleared"
          : `the database was ${after === 'deleted' ? 'deleted' : 'taken away by the browser'} while the learner ran`;
      recoveries.add(
        'NEW_INSTALL',
        `no stored state in "${name}": starting from the version's head as a new install (${why})`,
        { failure: after !== undefined },
      );
    }
    return store;
  } catch (error) {
    const why = isStoreError(error) ? `${error.code}: ${error.message}` : describe(error);
    recoveries.add('IN_MEMORY', `running in memory: ${why}`, {
      cause: isStoreError(error) ? error.code : 'UNKNOWN',
    });
    return undefined;
  }
}

/** A stored version, or undefined (reported) when it cannot be used. */
async function loadOrReport(
  store: Store,
  version: VersionRecord,
  recoveries: RecoveryLog,
  given?: Uint8Array,
  preloaded?: Backbone,
): Promise<RunningVersion | undefined> {
  try {
    return await loadStoredVersion(store, version, given, preloaded);
  } catch (error) {
    recoveries.add(
      'VERSION_UNUSABLE',
      `stored version ${version.id} is unusable (${describe(error)})`,
    );
    return undefined;
  }
}

/**
 * The metrics reporter, or undefined (reported) when it cannot run: it keeps its windows and
 * outbox in the store, so without IndexedDB the learner learns but does not report.
 */
async function openReporter(
  store: Store | undefined,
  sync: SyncOptions,
  pipeline: Pipeline,
  recoveries: RecoveryLog,
): Promise<MetricsReporter | undefined> {
  if (!store) {
    recoveries.add('REPORTING_OFF', 'metrics reporting is off: it needs IndexedDB');
    return undefined;
  }
  try {
    const { MetricsReporter } = await import('../sync/reporter.ts');
    return await MetricsReporter.open(
      store,
      sync,
      {
        task: pipeline.task,
        classes: pipeline.spec.classes,
        ...(sync.ranking ? { ranking: sync.ranking } : {}),
      },
      {
        // Windows lost are data lost (an error too); a new registration loses nothing.
        onRecovery: (code, message) =>
          recoveries.add(code, message, { failure: code === 'OUTBOX_LOST' }),
      },
    );
  } catch (error) {
    recoveries.add('REPORTING_OFF', `metrics reporting is off: ${describe(error)}`);
    return undefined;
  }
}
