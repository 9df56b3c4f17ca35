// Bring your own model, in real Chromium: models shaped as torch.onnx.export writes them (built
// with the project's ONNX writer, models/byom.ts; no localfit metadata) through the backbone and
// through the learner (a real worker, onnxruntime-web), with the error codes of what cannot work.
import wasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.wasm?url';
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import {
  type ExportedModel,
  fixedBatchModel,
  idLookupModel,
  sequenceScoreModel,
  sqrtModel,
  twoOutputModel,
} from '../../models/byom.ts';
import { mulberry32 } from '../../models/onnx/prng.ts';
import { loadBackbone } from '../../src/backbone/backbone.ts';
import { configureOrt } from '../../src/backbone/configure_ort.ts';
import type { FeatureSpecInit } from '../../src/backbone/feature_spec.ts';
import { packExamples } from '../../src/backbone/features.ts';
import type { Example, Learner } from '../../src/client/index.ts';
import { createLearner } from '../../src/client/index.ts';

beforeAll(() => configureOrt(wasmUrl));

const open: Learner[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((learner) => learner.close()));
});

async function learnerFor(model: { bytes: Uint8Array }, featureSpec?: FeatureSpecInit) {
  const learner = await createLearner({
    model: { bytes: model.bytes },
    ...(featureSpec ? { featureSpec } : {}),
    store: { name: false },
  });
  open.push(learner);
  return learner;
}

/** `count` examples for a spec: ids below the vocabulary, floats in [lo, hi). */
function examplesFor(spec: FeatureSpecInit, count: number, seed: number, lo = -1, hi = 1) {
  const random = mulberry32(seed);
  return Array.from({ length: count }, () =>
    Object.fromEntries(
      spec.inputs.map((input) => [
        input.name,
        Array.from({ length: input.size }, () =>
          input.vocabulary ? Math.floor(random() * input.vocabulary) : lo + (hi - lo) * random(),
        ),
      ]),
    ),
  ) as Example[];
}

/** The examples as one flattened number array per input, for the model's forward(). */
function flatten(examples: Example[]): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const example of examples) {
    for (const [name, values] of Object.entries(example)) {
      out[name] = [...(out[name] ?? []), ...Array.from(values)];
    }
  }
  return out;
}

function worst(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

const models: Record<string, () => ExportedModel> = {
  'int64 ids [batch] through Gather, with a float input': () => idLookupModel({ dtype: 'int64' }),
  'int32 ids [batch, 1] → output [batch, 1, d]': () =>
    idLookupModel({ dtype: 'int32', idAxis: true }),
  'input [batch, 5, 4] → output [batch]': () => sequenceScoreModel(),
  'output [batch, 1]': () => sequenceScoreModel({ keep: true }),
  'batch fixed at 1 (no dynamic_axes)': () => fixedBatchModel(1),
  'batch fixed at 3': () => fixedBatchModel(3),
  'float64 input, two outputs, the head on "embedding"': () => {
    const model = twoOutputModel();
    return { ...model, featureSpec: { ...model.featureSpec, output: { name: 'embedding' } } };
  },
  'two outputs, the head on the float64 "logits"': () => {
    const model = twoOutputModel();
    return {
      ...model,
      featureSpec: { ...model.featureSpec, output: { name: 'logits' } },
      forward: model.logits,
    };
  },
};

describe('models as people export them', () => {
  for (const [name, make] of Object.entries(models)) {
    test(`${name}: the backbone computes what the model does, for 1, 5 and 7 examples`, async () => {
      const model = make();
      const backbone = await loadBackbone(model.bytes, model.featureSpec);
      try {
        for (const n of [1, 5, 7]) {
          const examples = examplesFor(model.featureSpec, n, n);
          const embedding = await backbone.embed(packExamples(backbone.spec, examples));
          expect(worst(embedding, model.forward(flatten(examples), n))).toBeLessThanOrEqual(1e-5);
        }
      } finally {
        await backbone.release();
      }
    });

    test(`${name}: the learner predicts 5 candidates and learns`, async () => {
      const model = make();
      const learner = await learnerFor(model, model.featureSpec);
      const candidates = examplesFor(model.featureSpec, 5, 11);
      const before = await learner.predict(candidates);
      expect(before.scores).toHaveLength(5);
      expect(Array.from(before.scores).every(Number.isFinite)).toBe(true);
      for (const [i, example] of candidates.entries()) {
        await learner.observe(example, learner.spec.task === 'regression' ? 3 : 1, { id: `o${i}` });
      }
      const after = await learner.predict(candidates);
      expect(Array.from(after.scores)).not.toEqual(Array.from(before.scores));
      expect((await learner.stats()).observed).toBe(5);
    });
  }

  test("the output size is the model's, whatever the shape: [batch, 1, d] gives d", async () => {
    const learner = await learnerFor(idLookupModel({ idAxis: true, dim: 6 }), {
      inputs: [{ name: 'user', size: 1, dtype: 'int64' }],
      task: 'binary',
    });
    expect(learner.spec.output).toEqual({ name: 'embedding', size: 6 });
  });
});

describe('what cannot work says how to fix it', () => {
  const code = async (promise: Promise<unknown>) => {
    const error = await promise.then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error).toMatchObject({ name: 'LearnerError' });
    return error as { code: string; message: string };
  };

  test("no feature spec: BAD_MODEL naming featureSpec and the model's own inputs", async () => {
    const error = await code(learnerFor(idLookupModel()));
    expect(error.code).toBe('BAD_MODEL');
    expect(error.message).toMatch(/pass featureSpec/);
    expect(error.message).toContain('"user" int64 [batch]');
  });

  test('two outputs and no name: BAD_MODEL listing them', async () => {
    const { bytes, featureSpec } = twoOutputModel();
    const error = await code(learnerFor({ bytes }, featureSpec));
    expect(error.code).toBe('BAD_MODEL');
    expect(error.message).toMatch(/"embedding", "logits".*featureSpec\.output\.name/);
  });

  test('ids declared as floats: BAD_MODEL saying which dtype to set', async () => {
    const { bytes } = idLookupModel();
    const error = await code(
      learnerFor(
        { bytes },
        {
          inputs: [
            { name: 'user', size: 1 },
            { name: 'x', size: 3 },
          ],
          task: 'binary',
        },
      ),
    );
    expect(error.code).toBe('BAD_MODEL');
    expect(error.message).toMatch(/dtype: 'int64'/);
  });

  test('a [batch, 5, 4] input given the wrong size: BAD_MODEL with the right one', async () => {
    const error = await code(
      learnerFor(sequenceScoreModel(), { inputs: [{ name: 'events', size: 4 }], task: 'binary' }),
    );
    expect(error.code).toBe('BAD_MODEL');
    expect(error.message).toMatch(/\[batch, 5, 4\].*size: 20/);
  });

  test('ids out of the vocabulary, negative or fractional: BAD_INPUT, nothing learned', async () => {
    const model = idLookupModel();
    const learner = await learnerFor(model, model.featureSpec);
    for (const user of [50, -1, 2.5, Number.NaN]) {
      const error = await code(learner.observe({ user: [user], x: [0, 0, 0] }, 1));
      expect(error.code).toBe('BAD_INPUT');
      expect(error.message).toMatch(/input "user"\[0\] is .*ids are whole numbers in \[0, 50\)/);
      await expect(learner.predict([{ user: [user], x: [0, 0, 0] }])).rejects.toMatchObject({
        code: 'BAD_INPUT',
      });
    }
    expect((await learner.stats()).observed).toBe(0);
  });

  test('an output that goes NaN: MODEL_OUTPUT_NON_FINITE naming the output, nothing learned', async () => {
    const model = sqrtModel();
    const learner = await learnerFor(model, model.featureSpec);
    const fine = { x: [1, 4, 9] };
    const nan = { x: [1, -4, 9] }; // a finite input: √-4 is the model's NaN
    expect(Number.isFinite((await learner.predict(fine)).score)).toBe(true);
    for (const call of [learner.observe(nan, 1), learner.predict([fine, nan])]) {
      const error = await code(call);
      expect(error.code).toBe('MODEL_OUTPUT_NON_FINITE');
      expect(error.message).toMatch(/output "root" is NaN for example \d \(component 1\)/);
    }
    await learner.observe(fine, 1);
    expect((await learner.stats()).observed).toBe(1);
  });

  test('a spec that is not one: BAD_MODEL pointing at the README', async () => {
    const error = await code(
      learnerFor(fixedBatchModel(), {
        inputs: [{ name: 'x', size: 6, dtype: 'int8' as 'int32' }],
        task: 'binary',
      }),
    );
    expect(error.code).toBe('BAD_MODEL');
    expect(error.message).toMatch(/dtype is int8; use one of float32, float64, int32, int64/);
  });
});
