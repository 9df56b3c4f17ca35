// Shared fixtures for the store's browser tests: every test gets its own database (unique name)
// and `cleanup()` (run after each test) closes and deletes all of them.
import type { FeatureSpec } from '../../../src/backbone/feature_spec.ts';
import type { PackedBatch } from '../../../src/backbone/features.ts';
import type { HeadState } from '../../../src/learn/types.ts';
import type { NewOutcome, OpenOptions, Store } from '../../../src/store/index.ts';
import { deleteStore, openStore, sha256Hex } from '../../../src/store/index.ts';

const opened: Store[] = [];
const names = new Set<string>();
let counter = 0;

/** A database name no other test uses. */
export function uniqueName(label: string): string {
  const name = `localfit-test-${label}-${Date.now()}-${counter++}-${crypto.randomUUID()}`;
  names.add(name);
  return name;
}

/** Deletes the database `name` after the test too (one a test made under its own name). */
export function track(name: string): string {
  names.add(name);
  return name;
}

/** Opens a store that is closed and deleted after the test. */
export async function open(name: string, options: OpenOptions = {}): Promise<Store> {
  names.add(name);
  const store = await openStore(name, options);
  opened.push(store);
  return store;
}

/** Closes every store the test opened and deletes every database it named (use in afterEach). */
export async function cleanup(): Promise<void> {
  for (const store of opened.splice(0)) store.close();
  const doomed = [...names];
  names.clear();
  await Promise.all(doomed.map((name) => deleteStore(name)));
}

/** A clock the test moves by hand, so orderings by time are deterministic. */
export function fakeClock(start = 1_700_000_000_000) {
  let now = start;
  return {
    now: () => now,
    tick: (ms = 1) => {
      now += ms;
      return now;
    },
  };
}

export const spec: FeatureSpec = {
  inputs: [{ name: 'x', size: 4 }],
  output: { name: 'embedding', size: 3 },
  task: 'binary',
};

/** Model bytes and their sha256, different for each seed. */
export async function modelBytes(seed: number, length = 256) {
  const bytes = new Uint8Array(length);
  let state = seed * 2654435761;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    bytes[i] = state >>> 24;
  }
  return { bytes, sha256: await sha256Hex(bytes) };
}

/** Stores model bytes and adds a version using them. */
export async function addVersion(
  store: Store,
  id: string,
  seed: number,
  status: 'draft' | 'staging' | 'production' = 'draft',
  length = 256,
) {
  const model = await modelBytes(seed, length);
  await store.models.put(model.sha256, model.bytes);
  return store.versions.add({
    id,
    semver: `1.0.${seed}`,
    modelSha256: model.sha256,
    featureSpec: spec,
    status,
  });
}

export function head(seed: number, dim = 3): HeadState {
  const values = (n: number, offset: number) =>
    Float64Array.from({ length: n }, (_, i) => Math.sin(seed * 1000 + offset + i) / 3 + 1e-17 * i);
  return {
    config: {
      task: 'binary',
      dim,
      optimizer: { kind: 'adagrad', eta0: 0.1, epsilon: 1e-8 },
      l2: 1e-4,
      l1: 0,
      fitIntercept: true,
      classes: [0, 1],
    },
    weights: values(dim, 0),
    intercepts: values(1, 100),
    slots: { sumSquares: values(dim, 200) },
    t: seed,
    scalars: { penalty: seed / 7 },
  };
}

export function example(seed: number): PackedBatch {
  return { n: 1, columns: { x: Float32Array.from([seed, seed + 0.5, -seed, seed / 3]) } };
}

export function outcome(i: number, overrides: Partial<NewOutcome> = {}): NewOutcome {
  return {
    clientId: `outcome-${i}`,
    versionId: 'v1',
    example: example(i),
    label: i % 2,
    ts: 1_700_000_000_000 + i,
    ...overrides,
  };
}

/** Adds versions as staging and promotes each in turn, so all but the last end up archived. */
export async function promoteInTurn(
  store: Store,
  ids: string[],
  seeds: number[],
  tick: () => void,
  length = 256,
) {
  for (const [i, id] of ids.entries()) {
    await addVersion(store, id, seeds[i], 'staging', length);
    tick();
    await store.versions.transition(id, 'production');
  }
}

/** Appends outcomes 1..n (client ids `outcome-i`), one after the other; returns their seqs. */
export async function appendMany(store: Store, from: number, to: number): Promise<number[]> {
  const seqs: number[] = [];
  for (let i = from; i <= to; i++) seqs.push((await store.outcomes.append(outcome(i))).seq);
  return seqs;
}
