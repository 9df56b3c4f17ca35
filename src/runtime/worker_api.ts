import { transfer } from 'comlink';
import type { Backbone } from '../backbone/backbone.ts';
import { loadBackbone } from '../backbone/backbone.ts';
import type { FeatureSpec } from '../backbone/feature_spec.ts';
import type { PackedBatch } from '../backbone/features.ts';
import { LearnerError } from '../errors.ts';
import type { ScalerState } from '../learn/index.ts';
import type { HeadState, Label } from '../learn/types.ts';
import type { LearnerEvent } from './events.ts';
import type { HeadOptions, LearnerStats, PredictionBatch } from './learner_runtime.ts';
import { LearnerRuntime } from './learner_runtime.ts';

/** Where the model comes from: bytes the app already has, or a URL the worker fetches. */
export type ModelSource = { bytes: Uint8Array | ArrayBuffer } | { url: string };

export interface WorkerInit {
  model: ModelSource;
  /** Overrides the feature spec embedded in the model. */
  featureSpec?: FeatureSpec;
  /** Settings for a fresh head, or the state of a trained one (the version's initial head). */
  head?: HeadOptions | HeadState;
  /**
   * Standardise the head's input with running mean and variance (default true). A version
   * trained elsewhere passes its scaler's state, so its initial head sees the inputs it was
   * trained on.
   */
  scale?: boolean | ScalerState;
}

/** What the worker exposes over comlink; the client in `src/client` is its only intended caller. */
export interface WorkerApi {
  init(init: WorkerInit): Promise<{ versionId: string; spec: FeatureSpec }>;
  predict(batch: PackedBatch): Promise<PredictionBatch>;
  observe(batch: PackedBatch, labels: Label[]): Promise<void>;
  stats(): Promise<LearnerStats>;
  subscribe(listener: (event: LearnerEvent) => void): void;
  close(): Promise<void>;
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

export function createWorkerApi(): WorkerApi {
  let runtime: LearnerRuntime | undefined;
  let closed = false;
  const listeners: ((event: LearnerEvent) => void)[] = [];
  const emit = (event: LearnerEvent) => {
    for (const listener of listeners) listener(event);
  };
  const ready = (): LearnerRuntime => {
    if (closed) throw new LearnerError('CLOSED', 'the learner is closed');
    if (!runtime) throw new LearnerError('BAD_CONFIG', 'the learner is not initialised');
    return runtime;
  };

  return {
    async init(init) {
      if (runtime) throw new LearnerError('BAD_CONFIG', 'the learner is already initialised');
      const backbone: Backbone = await loadBackbone(await modelBytes(init.model), init.featureSpec);
      runtime = new LearnerRuntime(backbone, init.head ?? {}, init.scale ?? true, emit);
      emit({ type: 'version', versionId: runtime.versionId, spec: runtime.spec });
      return { versionId: runtime.versionId, spec: runtime.spec };
    },
    async predict(batch) {
      const result = await ready().predict(batch);
      const buffers = [result.scores.buffer, result.probabilities?.buffer].filter(
        (buffer): buffer is ArrayBuffer => buffer instanceof ArrayBuffer,
      );
      return transfer(result, buffers);
    },
    observe: (batch, labels) => ready().observe(batch, labels),
    async stats() {
      return ready().stats();
    },
    subscribe(listener) {
      listeners.push(listener);
    },
    async close() {
      if (closed) return;
      closed = true;
      await runtime?.close();
    },
  };
}
