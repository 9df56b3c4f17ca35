/**
 * A replay through the device's own code: for every replayed user a fresh
 * `Pipeline` (what the learner worker's DurableLearner runs: backbone → embedding ⊕ raw →
 * scaler → head) is started from the version — the backbone is onnxruntime-web on the
 * exported ONNX bytes, the head the version's initial head with the library's default
 * settings, the scaler setting the version's — and each rating is first predicted, then
 * observed (prepare + learn, as `observe` does). A second pipeline that never learns gives the
 * static server model's scores.
 *
 * Browser-safe: Node runs it for the MovieLens replay (CLI, tests, benchmark) and the demo's
 * build check, and the browser tests run the very same function in Chromium to compare with
 * the real worker.
 */
import type { Backbone } from '../../src/backbone/backbone.ts';
import { loadBackbone } from '../../src/backbone/backbone.ts';
import { catalogExample } from '../../src/backbone/catalog.ts';
import { packExamples } from '../../src/backbone/features.ts';
import { ConstantPredictor } from '../../src/drift/constant_predictor.ts';
import type { ForgettingGuardOptions } from '../../src/drift/forgetting_guard.ts';
import { ForgettingGuard } from '../../src/drift/forgetting_guard.ts';
import type { ScalerState } from '../../src/learn/index.ts';
import type { HeadState } from '../../src/learn/types.ts';
import { Pipeline } from '../../src/runtime/pipeline.ts';
import type { UserTrace } from './metrics.ts';
import type { ItemCatalog } from './types.ts';

/** What a device receives for a version. */
export interface VersionBundle {
  bytes: Uint8Array;
  head: HeadState;
  /** The `scale` option of the worker's init: false, true or a scaler state. */
  scale: boolean | ScalerState;
}

export interface ReplaySequence {
  user: number;
  items: ArrayLike<number>;
  labels: ArrayLike<number>;
}

/**
 * Replays each sequence with a fresh learner runtime: predict, then observe, per rating.
 * Scores are the runtime's (float32, as the worker returns them).
 */
export async function replaySequences(
  version: VersionBundle,
  catalog: ItemCatalog,
  sequences: readonly ReplaySequence[],
  onUser?: (done: number, total: number) => void,
  /**
   * Also replay each user with the forgetting guard (src/drift/forgetting_guard.ts): a third
   * pipeline that resets to the version's head whenever it has become worse than it.
   */
  guard?: ForgettingGuardOptions,
): Promise<UserTrace[]> {
  const backbone: Backbone = await loadBackbone(version.bytes);
  try {
    const frozen = Pipeline.create(backbone, version.head, version.scale);
    const traces: UserTrace[] = [];
    for (const [n, sequence] of sequences.entries()) {
      const learner = Pipeline.create(backbone, version.head, version.scale);
      const trace: UserTrace = { user: sequence.user, labels: [], static: [], ondevice: [] };
      const guarded = guard
        ? {
            pipeline: Pipeline.create(backbone, version.head, version.scale),
            guard: new ForgettingGuard(guard),
            constant: new ConstantPredictor(frozen.task, frozen.classes),
          }
        : undefined;
      if (guarded) trace.guarded = [];
      for (let t = 0; t < sequence.items.length; t++) {
        const batch = packExamples(backbone.spec, [catalogExample(catalog, sequence.items[t])]);
        const label = sequence.labels[t];
        trace.static.push((await frozen.predict(batch)).scores[0]);
        trace.ondevice.push((await learner.predict(batch)).scores[0]);
        trace.labels.push(label);
        learner.learn(await learner.prepare(batch, [label]));
        if (guarded) {
          trace.guarded?.push((await guarded.pipeline.predict(batch)).scores[0]);
          const prepared = await guarded.pipeline.prepare(batch, [label]);
          const verdict = guarded.guard.observe(
            prepared.losses[0],
            frozen.lossesOn(prepared)[0],
            guarded.constant.loss(label),
          );
          if (verdict) guarded.pipeline.restore(frozen.exportState());
          guarded.pipeline.learn(prepared);
        }
      }
      traces.push(trace);
      onUser?.(n + 1, sequences.length);
    }
    return traces;
  } finally {
    await backbone.release();
  }
}
