/**
 * Opening a learner: the composition root. It opens the store and creates the app model's
 * session at once (onnxruntime's wasm is fetched and compiled while IndexedDB opens), picks what
 * serves (a stored version, else the app's model, stored in the background while the first
 * predictions are served), loads the staged version, replays the log, and registers the
 * extensions the options ask for — the metrics reporter (`sync`) and the rollout (`rollout`),
 * both loaded only by apps that use them — as hooks (hooks.ts), so the learner imports neither.
 *
 * Nothing here fails the app for storage's sake: IndexedDB missing, full, blocked or newer
 * than this code, a corrupt snapshot, an unusable stored version — each is a recovery
 * (recoveries.ts) and the learner serves from what is left.
 */
import type { Backbone } from '../backbone/backbone.ts';
import { loadBackbone } from '../backbone/backbone.ts';
import type { ContributionSettled } from '../delivery/contributions.ts';
import type { SyncOptions } from '../delivery/options.ts';
import { resolveSyncOptions } from '../delivery/options.ts';
import { describeError, LearnerError } from '../errors.ts';
import type { MetricsReporter } from '../reporting/reporter.ts';
import type { CloseReason, Store, VersionRecord } from '../store/index.ts';
import { isStoreError, openStore } from '../store/index.ts';
import { Durability } from './durability.ts';
import type { LearnerEvent } from './events.ts';
import { DurableLearner } from './learner.ts';
import type { LearnerInit, ModelSource, PersistenceOptions, RestartOptions } from './options.ts';
import { Pipeline } from './pipeline.ts';
import { RecoveryLog } from './recoveries.ts';
import { RunningVersion } from './running_version.ts';
import { Serving } from './serving.ts';
import { StartupTiming } from './startup_timing.ts';
import { addVersion, endStaging, loadStoredVersion, replacedByApp } from './version_store.ts';

const DEFAULTS = { name: 'localfit', snapshotEvery: 50, snapshotIntervalMs: 10_000 };

export async function startLearner(
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
    const pipeline = Pipeline.create(await loading, init.head, init.scale ?? true);
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
        recoveries.add('MODEL_NOT_STORED', `could not store the model: ${describeError(error)}`),
      );
    }
  }
  let learner: DurableLearner | undefined;
  const late = (event: LearnerEvent) => learner?.emit(event);
  const serving = new Serving(production, {
    emit: late,
    versionEvent: (id, event) => learner?.hooks.versionEvent(id, event),
    recordRollback: (id, reason) =>
      void learner
        ?.serialise(() => endStaging(store!, id, 'rolled_back', reason))
        .catch((error: unknown) =>
          late({
            type: 'error',
            code: 'STORAGE',
            message: `recording a rollback: ${describeError(error)}`,
          }),
        ),
    adaptation: { drift: init.drift, forgettingGuard: init.forgettingGuard },
    guardrails: init.rollout?.guardrails,
  });
  const durability = new Durability(store, options, production.initial.seq, {
    running: () => serving.running,
    beforeSnapshot: () => learner?.hooks.run('beforeSnapshot') ?? Promise.resolve(),
    emit: late,
    recoveries,
    due: () => void learner?.flush().catch(() => undefined),
  });
  learner = new DurableLearner({ init, serving, durability, recoveries, timing }, emit);
  if (storing) void learner.serialise(() => storing);
  if (store) {
    serving.setStaged(
      await timing.time('staged load', () => loadStaged(store, serving, recoveries)),
    );
  }
  let reporter: MetricsReporter | undefined;
  // Contributions share the reporter's outbox and delivery; their answers go to the participant.
  let settled: ContributionSettled | undefined;
  if (init.sync) {
    // The reporter and the rollout read the stored versions.
    await storing;
    reporter = await timing.time('reporter open', () =>
      openReporter(store, init.sync!, production.pipeline, recoveries, (key, result) =>
        settled?.(key, result),
      ),
    );
    if (reporter) learner.hooks.register(reporterHooks(reporter));
  }
  const participant =
    init.rollout && init.federated !== false && store && reporter
      ? await openParticipant(learner, store, reporter, init)
      : undefined;
  if (participant) settled = (key, result) => participant.settled(key, result);
  await learner.restore();
  reporter?.start();
  if (init.rollout && store && reporter) {
    const installed = reporter;
    // Loaded only by apps that follow a server: most of the worker's code is sync's.
    const { Rollout } = await import('../rollout/rollout.ts');
    const rollout = await timing.time('rollout start', () =>
      Rollout.start(
        learner.lifecycle,
        store,
        init,
        () => installed.installId(),
        participant && ((manifest) => participant.manifest(manifest)),
      ),
    );
    learner.hooks.register({
      checkForUpdates: () => rollout.check(),
      stats: async () => ({ rollout: rollout.stats() }),
      stop: () => rollout.stop(),
    });
  } else if (init.rollout) {
    recoveries.add('ROLLOUT_OFF', 'rollouts are off: they need IndexedDB');
  }
  learner.emit = emitEvent;
  return learner;
}

/**
 * The federated participant (src/federated/participant.ts), registered as hooks: it hears the
 * outcomes learned, and (through the rollout) the verified manifests; loaded only when used.
 */
async function openParticipant(
  learner: DurableLearner,
  store: Store,
  reporter: MetricsReporter,
  init: LearnerInit,
) {
  const { Participant } = await import('../federated/participant.ts');
  const localNoise = init.federated ? init.federated.localNoise : undefined;
  const participant = await Participant.open({
    target: {
      serving: () => {
        const running = learner.serving.current;
        const state = running.pipeline.exportState();
        return {
          versionId: running.id,
          head: state.head,
          ...(state.scaler ? { scaler: state.scaler } : {}),
          startSeq: running.initial.seq,
        };
      },
      learnedSeq: () => learner.durability.lastSeq,
    },
    store,
    installId: () => reporter.installId(),
    deliver: () => reporter.deliverNow(),
    ...(localNoise !== undefined ? { localNoise } : {}),
  });
  learner.hooks.register({
    outcomeLearned: (outcome) => participant.outcomeLearned(outcome.seq),
    stats: async () => ({ federated: participant.stats() }),
    stop: async () => participant.close(),
  });
  return participant;
}

/** The reporter as the learner's hooks: it hears every outcome, slate and version event. */
function reporterHooks(reporter: MetricsReporter) {
  return {
    slateServed: reporter.openSlate.bind(reporter),
    outcomeLearned: reporter.record.bind(reporter),
    versionEvent: reporter.recordVersionEvent.bind(reporter),
    beforeSnapshot: () => reporter.checkpoint(),
    flush: () => reporter.flush(),
    stats: async () => {
      const sync = await reporter.stats().catch(() => undefined);
      return sync ? { sync } : {};
    },
    close: () => reporter.close(),
  };
}

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

/** The staged version as stored, or undefined; one that cannot load is rolled back. */
async function loadStaged(
  store: Store,
  serving: Serving,
  recoveries: RecoveryLog,
): Promise<RunningVersion | undefined> {
  const [latest, ...older] = (await store.versions.list('staging')).sort(
    (a, b) => b.updatedAt - a.updatedAt,
  );
  for (const version of older) {
    await endStaging(store, version.id, 'rolled_back', 'superseded').catch(() => {});
  }
  if (!latest) return undefined;
  const loaded = await loadOrReport(store, latest, recoveries);
  if (!loaded || serving.compatible(loaded.pipeline.spec)) {
    await endStaging(store, latest.id, 'rolled_back', 'unusable on start').catch(() => {});
    await loaded?.retire();
    return undefined;
  }
  return loaded;
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
    const why = isStoreError(error) ? `${error.code}: ${error.message}` : describeError(error);
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
      `stored version ${version.id} is unusable (${describeError(error)})`,
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
  onContribution: ContributionSettled,
): Promise<MetricsReporter | undefined> {
  if (!store) {
    recoveries.add('REPORTING_OFF', 'metrics reporting is off: it needs IndexedDB');
    return undefined;
  }
  try {
    const { MetricsReporter } = await import('../reporting/reporter.ts');
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
        onContribution,
      },
    );
  } catch (error) {
    recoveries.add('REPORTING_OFF', `metrics reporting is off: ${describeError(error)}`);
    return undefined;
  }
}
