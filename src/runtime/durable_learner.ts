import type { Backbone } from '../backbone/backbone.ts';
import { loadBackbone, sha256Hex } from '../backbone/backbone.ts';
import type { FeatureSpec } from '../backbone/feature_spec.ts';
import type { PackedBatch } from '../backbone/features.ts';
import { isLearnerError, LearnerError } from '../errors.ts';
import type { Label } from '../learn/types.ts';
import type { Store, VersionRecord } from '../store/index.ts';
import { isStoreError, openStore } from '../store/index.ts';
import type { SyncOptions } from '../sync/options.ts';
import { resolveSyncOptions } from '../sync/options.ts';
import type { SyncStats } from '../sync/reporter.ts';
import { MetricsReporter } from '../sync/reporter.ts';
import type { LearnerEvent } from './events.ts';
import type { HeadStart, PipelineState, PredictionBatch, ScalerStart } from './pipeline.ts';
import { Pipeline } from './pipeline.ts';

/** Where the model comes from: bytes the app already has, or a URL the worker fetches. */
export type ModelSource = { bytes: Uint8Array | ArrayBuffer } | { url: string };

export interface PersistenceOptions {
  /** IndexedDB database name (one learner state per name and origin); `false`: memory only. */
  name?: string | false;
  /** Write a head snapshot after this many outcomes (default 50)… */
  snapshotEvery?: number;
  /** …or this long after the first outcome not in a snapshot (default 10 s). */
  snapshotIntervalMs?: number;
}

export interface LearnerInit {
  model: ModelSource;
  /** Overrides the feature spec embedded in the model. */
  featureSpec?: FeatureSpec;
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
}

export interface ObserveResult {
  /** The outcome's place in the log: the order outcomes are learned in. */
  seq: number;
  /** The outcome id was seen before: nothing was stored or learned this time. */
  duplicate: boolean;
}

export interface LearnerStats {
  versionId: string;
  task: FeatureSpec['task'];
  /** Width of the head's input (embedding + raw features). */
  headDimension: number;
  /** 'indexeddb', or 'memory' when persistence is off or IndexedDB failed. */
  storage: 'indexeddb' | 'memory';
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
  /** Sequence number of the last outcome learned. */
  lastSeq: number;
  snapshots: number;
  /** Outcomes the log evicted to stay under its cap (all time, this origin). */
  outcomesEvicted: number;
  /**
   * What went wrong with the stored state on start and how the learner recovered (a corrupt
   * snapshot skipped, a stored version unusable, IndexedDB unavailable): also sent as `error`
   * events, kept here for apps that subscribe later.
   */
  recoveries: string[];
  /** Metrics reporting, when `sync` is configured and the store is available. */
  sync?: SyncStats;
}

const DEFAULTS = { name: 'localfit', snapshotEvery: 50, snapshotIntervalMs: 10_000 };
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

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The version's starting point, kept with it so a reset or a lost snapshot can start over. */
interface InitialState extends PipelineState {
  /** Outcomes up to this seq predate the version: its head never learned them. */
  seq: number;
}

/**
 * The learner with a memory (design invariant 1): every outcome is in IndexedDB before
 * `observe` resolves, the head learns it at once, snapshots of the head are written by size and
 * time triggers, and on start the latest valid snapshot is loaded and the outcomes after it are
 * learned again. An outcome id is stored — and so learned — once.
 */
export class DurableLearner {
  private queue: Promise<unknown> = Promise.resolve();
  private snapshotWrites: Promise<unknown> = Promise.resolve();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private sinceSnapshot = 0;
  private memorySeq = 0;
  private counts = {
    predictions: 0,
    observed: 0,
    replayed: 0,
    duplicates: 0,
    rejected: 0,
    restores: 0,
    snapshots: 0,
  };

  private constructor(
    private readonly pipeline: Pipeline,
    private readonly store: Store | undefined,
    private lastSeq: number,
    private readonly options: Required<PersistenceOptions>,
    private emit: (event: LearnerEvent) => void,
  ) {}

  private recoveries: string[] = [];
  private reporter: MetricsReporter | undefined;

  static async open(
    init: LearnerInit,
    emitEvent: (event: LearnerEvent) => void,
  ): Promise<DurableLearner> {
    const recoveries: string[] = [];
    const emit = (event: LearnerEvent) => {
      if (event.type === 'error') recoveries.push(event.message);
      emitEvent(event);
    };
    const options = { ...DEFAULTS, ...init.store } as Required<PersistenceOptions>;
    if (init.sync) resolveSyncOptions(init.sync); // a BAD_CONFIG before anything is opened
    const store = options.name === false ? undefined : await openOrReport(options.name, emit);
    const given = await modelBytes(init.model);
    const production = await store?.versions.production();
    const stored =
      production && !(await replacedByApp(production, given))
        ? await loadStoredVersion(store!, production, given, emit)
        : undefined;
    let pipeline: Pipeline;
    let initial: InitialState;
    if (stored) {
      ({ pipeline, initial } = stored);
    } else {
      const backbone = await loadBackbone(given, init.featureSpec);
      pipeline = Pipeline.create(backbone, init.head, init.scale ?? true);
      initial = { ...pipeline.exportState(), seq: (await store?.outcomes.lastSeq()) ?? 0 };
      if (store) await installVersion(store, pipeline, given, initial, emit);
    }
    const learner = new DurableLearner(pipeline, store, initial.seq, options, emit);
    if (init.sync) learner.reporter = await openReporter(store, init.sync, pipeline, emit);
    if (store) await learner.restore(store, initial);
    learner.reporter?.start();
    learner.recoveries = recoveries;
    learner.emit = emitEvent;
    return learner;
  }

  get versionId(): string {
    return this.pipeline.versionId;
  }

  get spec(): FeatureSpec {
    return this.pipeline.spec;
  }

  async predict(batch: PackedBatch): Promise<PredictionBatch> {
    try {
      const result = await this.pipeline.predict(batch);
      this.counts.predictions += batch.n;
      return result;
    } catch (error) {
      this.countFailure(error);
      throw error;
    }
  }

  /** Stores the outcome durably, then learns it; one at a time, in arrival order. */
  observe(batch: PackedBatch, label: Label, clientId: string): Promise<ObserveResult> {
    return this.serialise(async () => {
      if (typeof clientId !== 'string' || clientId === '') {
        this.counts.rejected++;
        throw new LearnerError('BAD_INPUT', 'an outcome needs a non-empty id');
      }
      if (batch?.n !== 1) {
        this.counts.rejected++;
        throw new LearnerError('BAD_INPUT', 'observe takes one example at a time');
      }
      let prepared: Awaited<ReturnType<Pipeline['prepare']>>;
      try {
        prepared = await this.pipeline.prepare(batch, [label]);
      } catch (error) {
        this.countFailure(error);
        throw error;
      }
      const ts = Date.now();
      const { seq, duplicate } = await this.append(batch, label, clientId, ts);
      if (duplicate) {
        this.counts.duplicates++;
        return { seq, duplicate };
      }
      this.learn(prepared, seq, ts);
      return { seq, duplicate };
    });
  }

  /**
   * Writes a snapshot now if anything was learned since the last one (e.g. the page hides),
   * then closes the open metric windows and sends what is due — outside the queue, so
   * outcomes keep flowing while a request is out.
   */
  async flush(): Promise<void> {
    await this.serialise(async () => {
      await this.snapshot();
    });
    await this.reporter?.flush();
  }

  async stats(): Promise<LearnerStats> {
    const storeStats = await this.store?.stats().catch(() => undefined);
    const sync = await this.reporter?.stats().catch(() => undefined);
    return {
      versionId: this.versionId,
      task: this.pipeline.task,
      headDimension: this.pipeline.dim,
      storage: this.store ? 'indexeddb' : 'memory',
      ...this.counts,
      lastSeq: this.lastSeq,
      outcomesEvicted: storeStats?.outcomesEvicted ?? 0,
      recoveries: [...this.recoveries],
      ...(sync ? { sync } : {}),
    };
  }

  async close(): Promise<void> {
    await this.serialise(() => this.snapshot()).catch(() => undefined);
    clearTimeout(this.timer);
    await this.snapshotWrites;
    await this.reporter?.close();
    this.store?.close();
    await this.pipeline.release();
  }

  private async append(
    batch: PackedBatch,
    label: Label,
    clientId: string,
    ts: number,
  ): Promise<ObserveResult> {
    if (!this.store) return { seq: ++this.memorySeq + this.lastSeq, duplicate: false };
    try {
      return await this.store.outcomes.append({
        clientId,
        versionId: this.versionId,
        example: batch,
        label,
        ts,
      });
    } catch (error) {
      throw new LearnerError('STORAGE', `the outcome could not be stored: ${describe(error)}`);
    }
  }

  private learn(prepared: Awaited<ReturnType<Pipeline['prepare']>>, seq: number, ts: number): void {
    try {
      this.pipeline.learn(prepared);
    } catch (error) {
      this.countFailure(error);
      throw error;
    } finally {
      // Stored outcomes count as learned even when the head refused them, so that a replay
      // meets them in the same place and ends in the same state.
      this.lastSeq = seq;
      this.counts.observed++;
      // Scored before learning either way; the reporter skips what it counted before a restart.
      this.reporter?.record({
        seq,
        ts,
        versionId: this.versionId,
        label: prepared.labels[0],
        loss: prepared.losses[0],
        ...outcomeQuality(this.pipeline.task, prepared.predictions[0], prepared.labels[0]),
      });
      this.afterLearning();
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

  /** Captures the state synchronously, then writes it in order behind earlier snapshot writes. */
  private snapshot(): Promise<unknown> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.store || this.sinceSnapshot === 0) return this.snapshotWrites;
    const store = this.store;
    const state = this.pipeline.exportState();
    const seq = this.lastSeq;
    this.sinceSnapshot = 0;
    this.snapshotWrites = this.snapshotWrites
      .then(async () => {
        // The reporter's saved state must cover at least what the snapshot covers (see
        // src/sync/reporter.ts); if it cannot be saved, the snapshot still matters more.
        await this.reporter?.checkpoint().catch(() => undefined);
        await store.snapshots.write({ versionId: this.versionId, seq, ...state });
        this.counts.snapshots++;
        await store.outcomes.compact(await store.snapshots.coveredSeq());
      })
      .catch((error: unknown) => {
        // The outcomes stay in the log, so nothing is lost: the next snapshot covers them.
        this.emit({
          type: 'error',
          code: 'STORAGE',
          message: `snapshot failed: ${describe(error)}`,
        });
      });
    return this.snapshotWrites;
  }

  /** Latest valid snapshot, then the outcomes after it, in order. */
  private async restore(store: Store, initial: InitialState): Promise<void> {
    const { snapshot, corrupt } = await store.snapshots.latestValid(this.versionId);
    if (corrupt > 0) {
      this.emit({
        type: 'error',
        code: 'STORAGE',
        message: `${corrupt} snapshot(s) failed their checksum; restored from an older state`,
      });
    }
    if (snapshot) {
      this.pipeline.restore({
        head: snapshot.head,
        scaler: snapshot.scaler as PipelineState['scaler'],
      });
      this.lastSeq = snapshot.seq;
    } else {
      this.pipeline.restore(initial);
      this.lastSeq = initial.seq;
    }
    for (;;) {
      const page = await store.outcomes.after(this.lastSeq, REPLAY_PAGE);
      for (const record of page) {
        try {
          const prepared = await this.pipeline.prepare(record.example, [record.label]);
          this.learn(prepared, record.seq, record.ts);
        } catch (error) {
          if (!isLearnerError(error)) throw error;
          this.lastSeq = record.seq;
        }
        this.counts.replayed++;
      }
      if (page.length < REPLAY_PAGE) break;
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

  private serialise<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }
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

/**
 * IndexedDB can be missing, full, blocked or newer than this code; the learner then keeps
 * serving from memory and says so, rather than failing the app.
 */
async function openOrReport(name: string, emit: (event: LearnerEvent) => void) {
  try {
    return await openStore(name);
  } catch (error) {
    const why = isStoreError(error) ? `${error.code}: ${error.message}` : describe(error);
    emit({ type: 'error', code: 'STORAGE', message: `running in memory: ${why}` });
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
  emit: (event: LearnerEvent) => void,
): Promise<MetricsReporter | undefined> {
  if (!store) {
    emit({
      type: 'error',
      code: 'STORAGE',
      message: 'metrics reporting is off: it needs IndexedDB',
    });
    return undefined;
  }
  try {
    return await MetricsReporter.open(store, sync, {
      task: pipeline.task,
      classes: pipeline.spec.classes,
    });
  } catch (error) {
    emit({
      type: 'error',
      code: 'STORAGE',
      message: `metrics reporting is off: ${describe(error)}`,
    });
    return undefined;
  }
}

/** An older build's bundled model gives way to this build's; a server's version does not. */
async function replacedByApp(version: VersionRecord, given: Uint8Array): Promise<boolean> {
  return version.metadata?.source === 'app' && version.modelSha256 !== (await sha256Hex(given));
}

/** The production version as stored, or undefined (reported) when it cannot be used. */
async function loadStoredVersion(
  store: Store,
  version: VersionRecord,
  given: Uint8Array,
  emit: (event: LearnerEvent) => void,
): Promise<{ pipeline: Pipeline; initial: InitialState } | undefined> {
  const initial = version.metadata?.initial as InitialState | undefined;
  try {
    const givenSha = await sha256Hex(given);
    const bytes =
      givenSha === version.modelSha256 ? given : await store.models.get(version.modelSha256);
    if (!bytes) throw new Error(`the bytes of model ${version.modelSha256} are missing`);
    if (!initial) throw new Error('the version has no initial head');
    const backbone: Backbone = await loadBackbone(
      bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes),
      version.featureSpec,
    );
    const pipeline = Pipeline.create(backbone, initial.head, initial.scaler ?? false, version.id);
    return { pipeline, initial };
  } catch (error) {
    emit({
      type: 'error',
      code: 'STORAGE',
      message: `stored version ${version.id} is unusable (${describe(error)}); serving the app's model`,
    });
    return undefined;
  }
}

/**
 * Makes the app's own model the production version, with its initial head and a first snapshot
 * (so compaction has a floor). A newer app build with another model replaces the one an older
 * build installed; versions that came from a server are never displaced by the app's model.
 */
async function installVersion(
  store: Store,
  pipeline: Pipeline,
  bytes: Uint8Array,
  initial: InitialState,
  emit: (event: LearnerEvent) => void,
): Promise<void> {
  const id = pipeline.versionId;
  try {
    await store.models.put(id, bytes);
    if (!(await store.versions.get(id))) {
      const current = await store.versions.production();
      await store.versions.add({
        id,
        semver: '0.0.0',
        modelSha256: id,
        featureSpec: pipeline.spec,
        status: current ? 'staging' : 'production',
        metadata: { initial, source: 'app' },
      });
      if (current) {
        await store.versions.transition(id, 'production', { reason: 'app update' });
        // Keeps the last few archived versions for rollback; drops older ones and bytes no
        // version uses any more.
        await store.applyRetention();
      }
    }
    const { head, scaler } = initial;
    await store.snapshots.write({ versionId: id, seq: initial.seq, head, scaler });
  } catch (error) {
    emit({
      type: 'error',
      code: 'STORAGE',
      message: `could not store the model: ${describe(error)}`,
    });
  }
}
