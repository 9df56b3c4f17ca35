import type { Remote } from 'comlink';
import { proxy, releaseProxy, transfer, wrap } from 'comlink';
import type { FeatureSpec } from '../backbone/feature_spec.ts';
import type { Example } from '../backbone/features.ts';
import { batchBuffers, packExamples } from '../backbone/features.ts';
import { asLearnerError, LearnerError } from '../errors.ts';
import type { Label } from '../learn/types.ts';
import { installErrorTransfer } from '../runtime/error_transfer.ts';
import type { LearnerEvent, LearnerEventMap } from '../runtime/events.ts';
import type {
  LearnerInit,
  ObserveOptions,
  ObserveResult,
  PredictOptions,
} from '../runtime/options.ts';
import type { WorkerApi, WorkerStats } from '../runtime/worker_api.ts';

export interface LearnerOptions extends LearnerInit {
  /**
   * The worker to run in. By default the package's `workers/learner.worker` (its URL is the
   * `new Worker(new URL(…, import.meta.url))` pattern Vite and webpack 5 bundle); pass your own
   * when your bundler does not recognise that pattern.
   */
  worker?: Worker;
}

export interface Prediction {
  /** P(positive) for binary, the value for regression, P(top class) for multiclass. */
  score: number;
  /** Multiclass only: one probability per class, in the spec's class order. */
  probabilities?: Float32Array;
  /** The model version that produced this score. */
  versionId: string;
}

export interface Predictions {
  scores: Float32Array;
  /** Multiclass only: n × classes, row-major. */
  probabilities?: Float32Array;
  versionId: string;
}

export interface Learner {
  /** Scores one example. */
  predict(example: Example): Promise<Prediction>;
  /**
   * Scores candidates in one call (e.g. ranking N items); scores follow the input order. With
   * `slate`, outcomes that name it (`observe(…, { slate: { id, candidate } })`) are scored as
   * a ranking: precision, recall and NDCG at k in the reported metrics.
   */
  predict(examples: readonly Example[], options?: PredictOptions): Promise<Predictions>;
  /**
   * Learns from what the user did. Resolves once the outcome is stored durably and learned
   * (with a buffered `cadence`: stored, and learned when the buffer is released).
   * Give each outcome an `id` (for instance the event's id in your app): an outcome observed
   * twice with the same id — a retry, a second tab — is learned once. `kind` says what the
   * user did with the shown item (impression, click, conversion) for CTR and conversion counts.
   */
  observe(
    example: Example,
    outcome: Label,
    options?: { id?: string } & ObserveOptions,
  ): Promise<ObserveResult>;
  stats(): Promise<WorkerStats>;
  /**
   * Saves what was learned and sends the queued metrics now (it also happens by itself, and
   * whenever the page is hidden).
   */
  flush(): Promise<void>;
  /** With `rollout` configured: checks the server's manifest now and acts on it. */
  checkForUpdates(): Promise<void>;
  /**
   * Subscribes to an event; returns the function that unsubscribes. An event a call causes
   * (a refusal during `checkForUpdates`, a recovery during a call) reaches the listener before
   * that call resolves.
   */
  on<K extends keyof LearnerEventMap>(
    type: K,
    listener: (event: LearnerEventMap[K]) => void,
  ): () => void;
  /** The feature spec of the version being served. */
  readonly spec: FeatureSpec;
  close(): Promise<void>;
}

function defaultWorker(): Worker {
  return new Worker(new URL('../../workers/learner.worker.ts', import.meta.url), {
    type: 'module',
    name: 'localfit-learner',
  });
}

/**
 * Starts a learner in a Web Worker and resolves once its model is loaded and checked.
 *
 * ```ts
 * import { createLearner } from 'localfit';
 * const learner = await createLearner({ model: { url: '/models/demo.onnx' } });
 * const { score } = await learner.predict({ item: [42], context: [0.3, 1, 0, 0] });
 * await learner.observe({ item: [42], context: [0.3, 1, 0, 0] }, 1);
 * ```
 */
export async function createLearner(options: LearnerOptions): Promise<Learner> {
  try {
    return await startLearner(options);
  } catch (error) {
    throw asLearnerError(error);
  }
}

/** Every method's failure reaches the app as a LearnerError, whatever threw it. */
async function atTheEdge<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw asLearnerError(error);
  }
}

async function requestPersistence(): Promise<void> {
  try {
    await globalThis.navigator?.storage?.persist?.();
  } catch {
    // Refused or not here: best-effort storage still works, and stats().persistence says so.
  }
}

async function startLearner(options: LearnerOptions): Promise<Learner> {
  installErrorTransfer();
  const { worker = defaultWorker(), ...given } = options;
  // A function cannot be posted to the worker: the worker calls it back over a port.
  const token = given.sync?.registrationToken;
  const init: LearnerInit =
    typeof token === 'function'
      ? { ...given, sync: { ...given.sync!, registrationToken: undefined } }
      : given;
  // Only a page may ask (persist() is not exposed to workers); the worker reports the answer.
  // Asked first, so that a browser that grants it keeps what the learner is about to write.
  if (init.store?.persist && init.store.name !== false) await requestPersistence();
  const remote: Remote<WorkerApi> = wrap<WorkerApi>(worker);
  const listeners = new Map<keyof LearnerEventMap, Set<(event: never) => void>>();
  let spec: FeatureSpec;
  let closed = false;

  await remote.subscribe(
    proxy((event: LearnerEvent) => {
      if (event.type === 'version') spec = event.spec;
      for (const listener of listeners.get(event.type) ?? []) {
        (listener as (event: LearnerEvent) => void)(event);
      }
    }),
  );
  if (typeof token === 'function')
    await remote.provideRegistrationToken(proxy(async () => await token()));
  try {
    ({ spec } = await remote.init(init));
  } catch (error) {
    remote[releaseProxy]();
    worker.terminate();
    throw error;
  }

  const open = () => {
    if (closed) throw new LearnerError('CLOSED', 'the learner is closed');
  };
  const pack = (examples: readonly Example[]) => {
    const batch = packExamples(spec, examples);
    return transfer(batch, batchBuffers(batch));
  };

  async function predict(example: Example): Promise<Prediction>;
  async function predict(
    examples: readonly Example[],
    options?: PredictOptions,
  ): Promise<Predictions>;
  async function predict(
    input: Example | readonly Example[],
    options?: PredictOptions,
  ): Promise<Prediction | Predictions> {
    open();
    const many = Array.isArray(input);
    const result = await atTheEdge(() =>
      remote.predict(pack(many ? input : [input as Example]), options),
    );
    if (many) return result;
    const { scores, probabilities, versionId } = result;
    return probabilities
      ? { score: scores[0], probabilities, versionId }
      : { score: scores[0], versionId };
  }

  // A hidden page may never come back (mobile browsers kill it): save what was learned.
  const onHidden = () => {
    if (document.visibilityState === 'hidden') void remote.flush().catch(() => undefined);
  };
  globalThis.document?.addEventListener('visibilitychange', onHidden);

  return {
    predict,
    async observe(example, outcome, options) {
      open();
      const { id, ...report } = options ?? {};
      return await atTheEdge(() =>
        remote.observe(pack([example]), outcome, id ?? crypto.randomUUID(), report),
      );
    },
    async stats() {
      open();
      return await atTheEdge(() => remote.stats());
    },
    async flush() {
      open();
      await atTheEdge(() => remote.flush());
    },
    async checkForUpdates() {
      open();
      await atTheEdge(() => remote.checkForUpdates());
    },
    on(type, listener) {
      const set = listeners.get(type) ?? new Set();
      listeners.set(type, set);
      set.add(listener);
      return () => set.delete(listener);
    },
    get spec() {
      return spec;
    },
    async close() {
      if (closed) return;
      closed = true;
      globalThis.document?.removeEventListener('visibilitychange', onHidden);
      await atTheEdge(() => remote.close());
      remote[releaseProxy]();
      worker.terminate();
    },
  };
}
