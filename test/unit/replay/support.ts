/** Small trained versions for the trainer's tests: the demo's simulated world, scaled down. */
import { env } from 'onnxruntime-web/wasm';
import { simulateHistory } from '../../../models/demo/history.ts';
import { trainVersion } from '../../../models/train/trainer.ts';
import type { TrainOptions } from '../../../models/train/types.ts';
import { createWorld } from '../../../src/demo/world.ts';

// onnxruntime-web's Node build: one thread, nothing left running after the file.
env.wasm.numThreads = 1;

export function smallWorld(seed = 5) {
  const world = createWorld(seed, 60);
  const { history } = simulateHistory(world, seed + 1, { users: 80, perUser: 20 });
  return { world, history, catalog: world.catalog };
}

/** A quick version of a small world (few sweeps and epochs). */
export function trainSmall(seed = 5, options: TrainOptions = {}) {
  const { history, catalog } = smallWorld(seed);
  return trainVersion(history, catalog, {
    seed,
    factors: 4,
    sweeps: 5,
    hidden: [8],
    epochs: 10,
    ...options,
  });
}
