import { transfer } from 'comlink';
import { configureOrt } from '../backbone/configure_ort.ts';
import type { FeatureSpec } from '../backbone/feature_spec.ts';
import type { PackedBatch } from '../backbone/features.ts';
import { LearnerError } from '../errors.ts';
import type { Label } from '../learn/types.ts';
import type { CloseReason } from '../store/index.ts';
import type { LearnerEvent } from './events.ts';
import { ForwardingChannel } from './forwarding.ts';
import { electLeader } from './leadership.ts';
import type { DurableLearner } from './learner.ts';
import type { LearnerInit, ObserveOptions, ObserveResult, PredictOptions } from './options.ts';
import type { PredictionBatch } from './pipeline.ts';
import { startLearner } from './startup.ts';
import type { LearnerStats } from './stats.ts';

export interface WorkerStats extends LearnerStats {
  /** Whether this tab's worker owns the state ('leader') or sends its calls to the owner. */
  role: 'leader' | 'follower';
}

/** What the worker exposes over comlink; the client in `src/client` is its only intended caller. */
export interface WorkerApi {
  init(init: LearnerInit): Promise<{ versionId: string; spec: FeatureSpec }>;
  predict(batch: PackedBatch, options?: PredictOptions): Promise<PredictionBatch>;
  observe(
    batch: PackedBatch,
    label: Label,
    clientId: string,
    options?: ObserveOptions,
  ): Promise<ObserveResult>;
  /** Writes a snapshot of what was learned now (the page is being hidden or closed). */
  flush(): Promise<void>;
  /** Checks the rollout's manifest now (no-op without `rollout`). */
  checkForUpdates(): Promise<void>;
  stats(): Promise<WorkerStats>;
  subscribe(listener: (event: LearnerEvent) => void): void;
  /**
   * The page's `sync.registrationToken`, called back over comlink (a function cannot be
   * posted); before `init`, which then registers with it.
   */
  provideRegistrationToken(provide: () => Promise<string | undefined>): void;
  close(): Promise<void>;
}

type Method = 'describe' | 'predict' | 'observe' | 'flush' | 'checkForUpdates' | 'stats';

/** Runs a call on the learner this context owns: for itself or for another tab. */
function dispatch(learner: DurableLearner, method: Method, args: unknown[]): Promise<unknown> {
  switch (method) {
    case 'describe':
      return Promise.resolve({ versionId: learner.versionId, spec: learner.spec });
    case 'predict':
      return learner.predict(args[0] as PackedBatch, args[1] as PredictOptions | undefined);
    case 'observe':
      return learner.observe(
        args[0] as PackedBatch,
        args[1] as Label,
        args[2] as string,
        args[3] as ObserveOptions | undefined,
      );
    case 'flush':
      return learner.flush();
    case 'checkForUpdates':
      return learner.checkForUpdates();
    case 'stats':
      return learner.stats();
  }
}

/**
 * The worker's side. With persistence on, every tab's worker of one origin competes for a Web
 * Lock named after the database; the winner opens the state and serves, the others forward
 * their calls to it and wait in line to take over (see leadership.ts, forwarding.ts).
 */
export function createWorkerApi(): WorkerApi {
  let learner: DurableLearner | undefined;
  let channel: ForwardingChannel | undefined;
  let release = () => {};
  let closed = false;
  const listeners: ((event: LearnerEvent) => void)[] = [];
  let registrationToken: (() => Promise<string | undefined>) | undefined;
  // Events reach the page over the listener's own MessagePort, results over the worker's: two
  // ports, whose messages no browser has to keep in order (Firefox does not). A call therefore
  // resolves only once the events emitted before its result were delivered, so that an app
  // (or a test) sees a call's events before the call returns, in every engine.
  const delivering = new Set<Promise<unknown>>();
  const emit = (event: LearnerEvent) => {
    for (const listener of listeners) {
      // Over comlink the listener is a proxy: its promise settles once the page has run it.
      const delivered = Promise.resolve(listener(event) as unknown).catch(() => undefined);
      delivering.add(delivered);
      delivered.then(() => delivering.delete(delivered));
    }
  };
  const afterEvents = async <T>(result: Promise<T>): Promise<T> => {
    try {
      return await result;
    } finally {
      if (delivering.size > 0) await Promise.all([...delivering]);
    }
  };

  // The store went away under the learner (see RestartOptions): a new one replaces it, and
  // calls wait for it.
  let restarting: Promise<void> | undefined;
  const openLearner = (
    init: LearnerInit,
    emitter: (event: LearnerEvent) => void,
    after?: CloseReason,
  ): Promise<DurableLearner> =>
    startLearner(init, emitter, {
      after,
      onStoreLost: (reason) => {
        if (restarting || closed || !learner) return;
        const lost = learner;
        restarting = (async () => {
          await lost.close().catch(() => undefined);
          try {
            learner = await openLearner(init, emitter, reason);
          } catch (error) {
            // The old learner stays, closed: its calls fail, and say so.
            emitter({
              type: 'error',
              code: 'INTERNAL',
              message: `restarting after the store went away failed: ${String(error)}`,
            });
          }
        })().finally(() => {
          restarting = undefined;
        });
      },
    });

  const call = async <T>(method: Method, ...args: unknown[]): Promise<T> => {
    if (closed) throw new LearnerError('CLOSED', 'the learner is closed');
    await restarting;
    if (learner) return afterEvents(dispatch(learner, method, args) as Promise<T>);
    if (!channel)
      return Promise.reject(new LearnerError('BAD_CONFIG', 'the learner is not initialised'));
    return afterEvents(channel.call(method, args) as Promise<T>);
  };

  return {
    async init(given) {
      if (channel || learner)
        throw new LearnerError('BAD_CONFIG', 'the learner is already initialised');
      const provide = registrationToken;
      const init: LearnerInit =
        provide && given.sync
          ? { ...given, sync: { ...given.sync, registrationToken: () => provide() } }
          : given;
      // Before anything loads onnxruntime-web's wasm: it reads the paths once, at first use.
      if (init.wasmPaths !== undefined) configureOrt(init.wasmPaths);
      const name = init.store?.name ?? 'localfit';
      if (name === false) {
        learner = await openLearner(init, emit);
        return { versionId: learner.versionId, spec: learner.spec };
      }
      const forwarding = new ForwardingChannel(`localfit:${name}`, emit);
      channel = forwarding;
      const leadership = electLeader(`localfit:${name}`);
      release = leadership.release;
      leadership.acquired.then(
        async () => {
          if (closed) return leadership.release();
          try {
            learner = await openLearner(init, (event) => {
              emit(event);
              forwarding.broadcast(event);
            });
            forwarding.lead(async (method, args) => {
              await restarting;
              return dispatch(learner!, method as Method, args);
            });
          } catch (error) {
            forwarding.fail(error);
            leadership.release();
          }
        },
        (error: unknown) => forwarding.fail(error),
      );
      return forwarding.call('describe', []) as Promise<{ versionId: string; spec: FeatureSpec }>;
    },
    async predict(batch, options) {
      const result = await call<PredictionBatch>('predict', batch, options);
      const buffers = [result.scores.buffer, result.probabilities?.buffer].filter(
        (buffer): buffer is ArrayBuffer => buffer instanceof ArrayBuffer,
      );
      return transfer(result, buffers);
    },
    observe: (batch, label, clientId, options) =>
      call<ObserveResult>('observe', batch, label, clientId, options),
    flush: () => call<void>('flush'),
    checkForUpdates: () => call<void>('checkForUpdates'),
    async stats() {
      const stats = await call<LearnerStats>('stats');
      return { ...stats, role: learner ? 'leader' : 'follower' };
    },
    subscribe(listener) {
      listeners.push(listener);
    },
    provideRegistrationToken(provide) {
      registrationToken = provide;
    },
    async close() {
      if (closed) return;
      closed = true;
      await restarting;
      await learner?.close();
      channel?.close();
      release();
    },
  };
}
