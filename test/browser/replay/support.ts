/** Shared by the replay browser tests: learners through the real worker, and cleanup. */
import type { Example, Learner } from '../../../src/client/index.ts';
import { createLearner } from '../../../src/client/index.ts';
import type { HeadState } from '../../../src/learn/types.ts';
import { deleteStore } from '../../../src/store/index.ts';

const databases: string[] = [];
const open: Learner[] = [];

export async function cleanup(): Promise<void> {
  await Promise.all(open.splice(0).map((learner) => learner.close()));
  await Promise.all(databases.splice(0).map((name) => deleteStore(name)));
}

/** A learner in the real worker (IndexedDB persistence on, a database of its own). */
export async function workerLearner(bytes: Uint8Array, head: HeadState): Promise<Learner> {
  const name = `replay-test-${crypto.randomUUID()}`;
  databases.push(name);
  const learner = await createLearner({
    model: { bytes: bytes.slice() },
    head,
    scale: false,
    store: { name },
  });
  open.push(learner);
  return learner;
}

/**
 * One user's replay through the worker: each example predicted by a learner that never learns
 * (the static model) and by one that then observes the outcome.
 */
export async function replayInWorker(
  bytes: Uint8Array,
  head: HeadState,
  examples: Example[],
  labels: ArrayLike<number>,
): Promise<{ static: number[]; ondevice: number[] }> {
  const frozen = await workerLearner(bytes, head);
  const learner = await workerLearner(bytes, head);
  const out = { static: [] as number[], ondevice: [] as number[] };
  for (const [t, example] of examples.entries()) {
    out.static.push((await frozen.predict(example)).score);
    out.ondevice.push((await learner.predict(example)).score);
    await learner.observe(example, labels[t], { id: `outcome-${t}` });
  }
  return out;
}

export function worstDifference(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  return Math.max(0, ...a.map((value, i) => Math.abs(value - b[i])));
}
