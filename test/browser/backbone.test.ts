// ONNX models written by the project's own exporter, run by onnxruntime-web in real Chromium.
import wasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.wasm?url';
import { beforeAll, describe, expect, test } from 'vitest';
import { mulberry32 } from '../../models/onnx/prng.ts';
import { makeTestBackbone } from '../../models/testing.ts';
import { loadBackbone } from '../../src/backbone/backbone.ts';
import { configureOrt } from '../../src/backbone/configure_ort.ts';

beforeAll(() => configureOrt(wasmUrl));

function randomColumns(spec: { name: string; size: number }[], batch: number, seed: number) {
  const random = mulberry32(seed);
  return Object.fromEntries(
    spec.map(({ name, size }) => [
      name,
      Float32Array.from({ length: batch * size }, () => random() * 6 - 3),
    ]),
  );
}

describe('exported backbones in onnxruntime-web (Chromium)', () => {
  const variants = {
    'two inputs': makeTestBackbone({ seed: 4 }),
    'normalised inputs, two hidden layers': makeTestBackbone({
      seed: 5,
      normalize: true,
      hidden: [12, 6],
    }),
    'one input, raw features': makeTestBackbone({ seed: 6, contextSize: 0, raw: true }),
  };

  for (const [name, model] of Object.entries(variants)) {
    test(`${name}: matches the TypeScript forward pass (≤ 1e-5) at batch 1 and 37`, async () => {
      const backbone = await loadBackbone(model.bytes);
      try {
        expect(backbone.spec).toEqual(model.spec);
        for (const batch of [1, 37]) {
          const columns = randomColumns(model.spec.inputs, batch, batch);
          const fromOrt = await backbone.embed({ n: batch, columns });
          const fromTs = model.forward(columns, batch);
          expect(fromOrt).toHaveLength(batch * model.spec.output.size);
          let worst = 0;
          for (let i = 0; i < fromTs.length; i++)
            worst = Math.max(worst, Math.abs(fromOrt[i] - fromTs[i]));
          expect(worst).toBeLessThanOrEqual(1e-5);
        }
      } finally {
        await backbone.release();
      }
    });
  }

  test('truncated model bytes are a BAD_MODEL', async () => {
    const { bytes, spec } = variants['two inputs'];
    await expect(loadBackbone(bytes.subarray(0, bytes.length >> 1), spec)).rejects.toMatchObject({
      code: 'BAD_MODEL',
    });
  });
});
