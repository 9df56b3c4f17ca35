// The learner end to end in each engine (README "Browsers"): a real Web Worker running onnxruntime-web (wasm) on
// ONNX models the project builds itself, driven through the public client API.
import { afterEach, describe, expect, inject, test } from 'vitest';
import { mulberry32 } from '../../models/onnx/prng.ts';
import { makeTestBackbone } from '../../models/testing.ts';
import type { Example, Learner, LearnerOptions } from '../../src/client/index.ts';
import { createLearner, LearnerError } from '../../src/client/index.ts';
import { createHead } from '../../src/learn/index.ts';
import { deleteStore } from '../../src/store/index.ts';
import { watchMainThread } from './support/main_thread.ts';

const backbone = makeTestBackbone({ seed: 7, raw: true });
const embeddingSize = backbone.spec.output.size;
const rawSize = 2;

const open: Learner[] = [];
const databases: string[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((learner) => learner.close()));
  await Promise.all(databases.splice(0).map((name) => deleteStore(name)));
});

/** A database of its own for every learner, so tests never see each other's state. */
function freshStore(): { name: string } {
  const name = `learner-test-${crypto.randomUUID()}`;
  databases.push(name);
  return { name };
}

async function start(options: Partial<LearnerOptions> = {}): Promise<Learner> {
  const learner = await createLearner({
    model: { bytes: backbone.bytes },
    store: freshStore(),
    ...options,
  });
  open.push(learner);
  return learner;
}

function examples(count: number, seed: number): Example[] {
  const random = mulberry32(seed);
  const vector = (size: number) => Float32Array.from({ length: size }, () => random() * 2 - 1);
  return Array.from({ length: count }, () => ({
    item: vector(8),
    context: vector(4),
    recency: vector(rawSize),
  }));
}

/** The head's score computed in plain TypeScript from the model's own forward pass. */
function expectedScores(batch: Example[], weights: Float64Array, intercept: number): number[] {
  const columns = (name: string, size: number) => {
    const column = new Float32Array(batch.length * size);
    for (const [row, example] of batch.entries()) column.set(example[name], row * size);
    return column;
  };
  const embedding = backbone.forward(
    { item: columns('item', 8), context: columns('context', 4) },
    batch.length,
  );
  return batch.map((example, row) => {
    let z = intercept;
    for (let i = 0; i < embeddingSize; i++) z += weights[i] * embedding[row * embeddingSize + i];
    for (let i = 0; i < rawSize; i++) z += weights[embeddingSize + i] * example.recency[i];
    return 1 / (1 + Math.exp(-z));
  });
}

describe('predict', () => {
  test('matches a plain TypeScript forward pass of the same model (≤ 1e-5)', async () => {
    const random = mulberry32(3);
    // A server head (one optimizer): it seeds the default mixture, which predicts as it does.
    const state = createHead({
      task: 'binary',
      dim: embeddingSize + rawSize,
      optimizer: { kind: 'sgd' },
    }).exportState();
    state.weights = Float64Array.from(state.weights, () => random() * 4 - 2);
    state.intercepts[0] = 0.3;
    const learner = await start({ head: state, scale: false });

    const batch = examples(37, 11);
    const many = await learner.predict(batch);
    const expected = expectedScores(batch, state.weights, 0.3);
    expect(many.scores).toHaveLength(37);
    const worst = Math.max(...expected.map((value, i) => Math.abs(value - many.scores[i])));
    expect(worst).toBeLessThanOrEqual(1e-5);
    expect(many.versionId).toMatch(/^[0-9a-f]{64}$/);

    const one = await learner.predict(batch[5]);
    expect(Math.abs(one.score - expected[5])).toBeLessThanOrEqual(1e-5);
    expect(one.versionId).toBe(many.versionId);
  });

  test('names the version: the sha256 of the model bytes', async () => {
    const learner = await start();
    const digest = await crypto.subtle.digest('SHA-256', backbone.bytes as Uint8Array<ArrayBuffer>);
    const hex = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
    expect((await learner.predict(examples(1, 1)[0])).versionId).toBe(hex);
    expect((await learner.stats()).versionId).toBe(hex);
  });
});

describe('observe', () => {
  test('moves predictions toward the observed label', async () => {
    const learner = await start();
    const [liked, disliked] = examples(2, 5);
    const before = await learner.predict([liked, disliked]);
    for (let i = 0; i < 30; i++) {
      await learner.observe(liked, 1);
      await learner.observe(disliked, 0);
    }
    const after = await learner.predict([liked, disliked]);
    expect(after.scores[0]).toBeGreaterThan(before.scores[0] + 0.1);
    expect(after.scores[1]).toBeLessThan(before.scores[1] - 0.1);
    const stats = await learner.stats();
    expect(stats.observed).toBe(60);
    // The default head is the mixture: both candidates, leader first, weights a distribution.
    const { candidates } = stats.head;
    expect(candidates.map((c) => c.name).sort()).toEqual(['adagrad', 'sgd']);
    expect(candidates[0].weight).toBeGreaterThanOrEqual(candidates[1].weight);
    expect(candidates[0].weight + candidates[1].weight).toBeCloseTo(1, 9);
  });

  test('learns a multiclass task with the spec’s class labels', async () => {
    const multiclass = makeTestBackbone({ seed: 9, task: 'multiclass', classes: ['a', 'b', 'c'] });
    const learner = await start({ model: { bytes: multiclass.bytes } });
    const [example] = examples(1, 8);
    const before = await learner.predict(example);
    expect(before.probabilities).toHaveLength(3);
    for (let i = 0; i < 20; i++) await learner.observe(example, 'b');
    const after = await learner.predict(example);
    expect(after.probabilities![1]).toBeGreaterThan(before.probabilities![1]);
    expect(after.probabilities!.reduce((sum, p) => sum + p, 0)).toBeCloseTo(1, 5);
    await expect(learner.observe(example, 'd')).rejects.toMatchObject({ code: 'BAD_LABEL' });
  });

  // Chromium measures long tasks itself; Firefox and WebKit have no `longtask` entries, so there
  // the gaps between animation frames are measured instead (support/main_thread.ts).
  // 10,000 outcomes made durable one by one in IndexedDB: 55 s alone on a shared 2-core
  // machine whose other tenants kept the load at 3.5, past the default 60 s in a CI run.
  test('10,000 observations cause no long task on the main thread', {
    timeout: 180_000 * inject('timeScale'),
  }, async () => {
    const learner = await start();
    const watch = watchMainThread();
    const stream = examples(500, 21);
    const inFlight = 50;
    for (let sent = 0; sent < 10_000; sent += inFlight) {
      await Promise.all(
        Array.from({ length: inFlight }, (_, i) =>
          learner.observe(stream[(sent + i) % stream.length], (sent + i) % 3 === 0 ? 1 : 0),
        ),
      );
    }
    expect((await learner.stats()).observed).toBe(10_000);
    const duringLearning = watch.count();

    // The instrument works: a deliberate task on this thread, longer than what it counts, is seen.
    const reported = watch.next();
    const until = performance.now() + watch.thresholdMs + 30;
    while (performance.now() < until) {
      // busy on purpose
    }
    await reported;
    watch.stop();
    // Work on the main thread per outcome (packing, posting, learning by mistake) shows up as
    // a long task every few hundred outcomes: dozens here. One alone is the machine: on a
    // shared 2-core CI runner the scheduler once stretched a single task past the threshold
    // (1 in 10,000 outcomes, on code that gives 0 on a quiet machine; bench main_thread
    // keeps the floor at 0 there).
    expect(
      duringLearning,
      `${watch.signal} of ${watch.thresholdMs} ms or more`,
    ).toBeLessThanOrEqual(1);
  });
});

describe('bad input is refused and changes nothing', () => {
  test('NaN, ±∞, wrong lengths, missing inputs and unknown labels', async () => {
    const learner = await start();
    const probe = examples(16, 2);
    await learner.observe(probe[0], 1);
    const before = await learner.predict(probe);
    const statsBefore = await learner.stats();

    const good = probe[1];
    const cases: [Example, unknown, string][] = [
      [{ ...good, item: Float32Array.of(Number.NaN, 0, 0, 0, 0, 0, 0, 0) }, 1, 'BAD_INPUT'],
      [{ ...good, context: [0, Number.POSITIVE_INFINITY, 0, 0] }, 1, 'BAD_INPUT'],
      [{ ...good, recency: [0, Number.NEGATIVE_INFINITY] }, 0, 'BAD_INPUT'],
      [{ ...good, item: [1, 2, 3] }, 1, 'BAD_INPUT'],
      [{ item: good.item, context: good.context }, 1, 'BAD_INPUT'],
      [good, 'maybe', 'BAD_LABEL'],
      [good, Number.NaN, 'BAD_LABEL'],
    ];
    for (const [example, label, code] of cases) {
      const error = await learner.observe(example, label as number).catch((e: unknown) => e);
      expect(error, `${code} for ${JSON.stringify(label)}`).toBeInstanceOf(LearnerError);
      expect((error as LearnerError).code).toBe(code);
    }
    await expect(learner.predict([good, cases[0][0]])).rejects.toMatchObject({ code: 'BAD_INPUT' });

    const after = await learner.predict(probe);
    expect(Array.from(after.scores)).toEqual(Array.from(before.scores));
    expect((await learner.stats()).observed).toBe(statsBefore.observed);
  });

  test('a head whose weights go non-finite restores its last good state and keeps serving', async () => {
    const learner = await start({
      scale: false,
      head: { optimizer: { kind: 'sgd', schedule: 'constant', eta0: 1e300 }, l2: 0 },
    });
    const errors: string[] = [];
    learner.on('error', ({ code }) => errors.push(code));
    const probe = examples(4, 4);
    const before = await learner.predict(probe);
    const huge = { ...probe[0], recency: [1e30, -1e30] };
    await expect(learner.observe(huge, 1)).rejects.toMatchObject({ code: 'NON_FINITE' });
    const after = await learner.predict(probe);
    expect(Array.from(after.scores).every(Number.isFinite)).toBe(true);
    expect(Array.from(after.scores)).toEqual(Array.from(before.scores));
    expect(errors).toEqual(['NON_FINITE']);
    expect((await learner.stats()).restores).toBe(1);
  });

  test('bytes that are not ONNX are a BAD_MODEL', async () => {
    const junk = new TextEncoder().encode('{"not": "a model"}');
    await expect(
      createLearner({ model: { bytes: junk }, store: freshStore() }),
    ).rejects.toMatchObject({
      code: 'BAD_MODEL',
    });
    await expect(
      createLearner({ model: { bytes: junk }, featureSpec: backbone.spec, store: freshStore() }),
    ).rejects.toMatchObject({ code: 'BAD_MODEL' });
  });

  test('a model whose shapes do not match its spec is a BAD_MODEL', async () => {
    const wrongWidth = {
      ...backbone.spec,
      inputs: [{ name: 'item', size: 9 }, backbone.spec.inputs[1]],
    };
    await expect(
      createLearner({
        model: { bytes: backbone.bytes },
        featureSpec: wrongWidth,
        store: freshStore(),
      }),
    ).rejects.toMatchObject({ code: 'BAD_MODEL' });
    const wrongOutput = { ...backbone.spec, output: { name: 'embedding', size: 5 } };
    await expect(
      createLearner({
        model: { bytes: backbone.bytes },
        featureSpec: wrongOutput,
        store: freshStore(),
      }),
    ).rejects.toMatchObject({ code: 'BAD_MODEL' });
    const wrongName = { ...backbone.spec, output: { name: 'logits', size: 8 } };
    await expect(
      createLearner({
        model: { bytes: backbone.bytes },
        featureSpec: wrongName,
        store: freshStore(),
      }),
    ).rejects.toMatchObject({ code: 'BAD_MODEL' });
  });
});
