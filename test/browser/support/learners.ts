import { mulberry32 } from '../../../models/onnx/prng.ts';
import { makeTestBackbone } from '../../../models/testing.ts';
import type { Example, Learner, LearnerOptions } from '../../../src/client/index.ts';
import { createLearner } from '../../../src/client/index.ts';
import type { OutcomeRecord } from '../../../src/store/index.ts';
import { deleteStore, openStore } from '../../../src/store/index.ts';

/** The backbone persistence tests share: two inputs and raw features, 10-wide head. */
export const testModel = makeTestBackbone({ seed: 7, raw: true });

export function examples(count: number, seed: number): Example[] {
  const random = mulberry32(seed);
  const vector = (size: number) => Float32Array.from({ length: size }, () => random() * 2 - 1);
  return Array.from({ length: count }, () => ({
    item: vector(8),
    context: vector(4),
    recency: vector(2),
  }));
}

/** Learners and databases a test made, closed and deleted after it. */
export class Fixtures {
  private readonly learners: Learner[] = [];
  private readonly workers: Worker[] = [];
  private readonly names: string[] = [];

  storeName(): string {
    const name = `persistence-${crypto.randomUUID()}`;
    this.names.push(name);
    return name;
  }

  /** A worker the test holds, so it can kill it the way a crash would. */
  worker(): Worker {
    const worker = new Worker(new URL('../../../workers/learner.worker.ts', import.meta.url), {
      type: 'module',
    });
    this.workers.push(worker);
    return worker;
  }

  /**
   * A learner worker with a storage failure installed before the learner starts (see
   * storage_faults.ts): IndexedDB refusing to open, absent, or full on demand (`disk`).
   */
  faultyWorker(kind: 'refuse-open' | 'no-indexeddb'): Worker;
  faultyWorker(kind: 'quota'): { worker: Worker; disk: FullDisk };
  faultyWorker(kind: 'refuse-open' | 'no-indexeddb' | 'quota') {
    const channel = `storage-faults-${crypto.randomUUID()}`;
    const worker = new Worker(new URL('./storage_faults.worker.ts', import.meta.url), {
      type: 'module',
      name: kind === 'quota' ? `quota:${channel}` : kind,
    });
    this.workers.push(worker);
    return kind === 'quota' ? { worker, disk: new FullDisk(channel) } : worker;
  }

  async learner(options: Partial<LearnerOptions>): Promise<Learner> {
    const learner = await createLearner({ model: { bytes: testModel.bytes }, ...options });
    // A learner on a worker the test holds ends when the test kills it (or at cleanup).
    if (!options.worker) this.learners.push(learner);
    return learner;
  }

  async cleanup(): Promise<void> {
    for (const worker of this.workers.splice(0)) worker.terminate();
    await Promise.all(this.learners.splice(0).map((learner) => learner.close().catch(() => {})));
    await Promise.all(this.names.splice(0).map((name) => deleteStore(name)));
  }
}

/** Every outcome in a store's log, in seq order, read over a connection of the test's own. */
export async function readLog(name: string): Promise<OutcomeRecord[]> {
  const store = await openStore(name);
  try {
    return await store.outcomes.after(0);
  } finally {
    store.close();
  }
}

/**
 * What a learner should know after a log: a fresh in-memory learner fed the same outcomes, in
 * the same order, scored on `probe`. Equal scores on more probes than the head has weights mean
 * equal weights.
 */
export async function replayReference(
  fixtures: Fixtures,
  log: readonly OutcomeRecord[],
  probe: Example[],
): Promise<Float32Array> {
  const reference = await fixtures.learner({ store: { name: false } });
  for (const record of log) {
    const example: Record<string, ArrayLike<number>> = {};
    for (const [name, column] of Object.entries(record.example.columns)) example[name] = column;
    await reference.observe(example, record.label as number, { id: record.clientId });
  }
  return (await reference.predict(probe)).scores;
}

export function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return a.length === b.length ? worst : Number.POSITIVE_INFINITY;
}

/** Tells a `quota` worker (storage_faults.ts) that its disk is full, or has room again. */
export class FullDisk {
  private readonly channel: BroadcastChannel;
  constructor(name: string) {
    this.channel = new BroadcastChannel(name);
  }

  /** Resolves once the worker has switched. */
  set(full: boolean): Promise<void> {
    return new Promise((resolve) => {
      this.channel.onmessage = ({ data }: MessageEvent<{ full: boolean }>) => {
        if (data.full === full) resolve();
      };
      this.channel.postMessage({ full });
    });
  }

  close(): void {
    this.channel.close();
  }
}
