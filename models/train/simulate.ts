/**
 * Prequential replay of users against a head, exactly as a device does it with scale off:
 * each interaction is first scored (test), then learned (train), by a fresh copy of the
 * version's initial head per user, seeding the library's default head (as `Pipeline` does). The trainer
 * uses it on the held-out end of the history to choose the embedding's scales; the MovieLens
 * replay runs the real worker code instead (`models/movielens/replay.ts`).
 */
import { restoreHead, seedHead } from '../../src/learn/index.ts';
import type { HeadState } from '../../src/learn/types.ts';
import type { UserTrace } from './metrics.ts';

export interface UserSequence {
  user: number;
  items: Int32Array;
  labels: Uint8Array;
}

/** Groups rows by user, keeping each user's rows in order. */
export function userSequences(
  user: Int32Array,
  item: Int32Array,
  label: Uint8Array,
): UserSequence[] {
  const rows = new Map<number, number[]>();
  for (let r = 0; r < user.length; r++) {
    const list = rows.get(user[r]);
    if (list) list.push(r);
    else rows.set(user[r], [r]);
  }
  return [...rows.entries()].map(([u, list]) => ({
    user: u,
    items: Int32Array.from(list, (r) => item[r]),
    labels: Uint8Array.from(list, (r) => label[r]),
  }));
}

/** `features`: catalog items × dim, row-major (the embedding rows). */
export function simulateUsers(
  head: HeadState,
  features: Float32Array,
  dim: number,
  sequences: readonly UserSequence[],
): UserTrace[] {
  const frozen = restoreHead(head);
  const x = new Float64Array(dim);
  return sequences.map((sequence) => {
    // What the device runs: the version's head seeding the default head (src/learn/mixture/).
    const learner = seedHead(head);
    const trace: UserTrace = { user: sequence.user, labels: [], static: [], ondevice: [] };
    for (let t = 0; t < sequence.items.length; t++) {
      const i = sequence.items[t];
      for (let j = 0; j < dim; j++) x[j] = features[i * dim + j];
      const y = sequence.labels[t];
      trace.labels.push(y);
      trace.static.push(frozen.score(x));
      trace.ondevice.push(learner.score(x));
      learner.partialFit(x, y);
    }
    return trace;
  });
}
