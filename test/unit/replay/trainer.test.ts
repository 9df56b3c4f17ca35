// The batch trainer on a small simulated world: determinism, the exported model's shape and
// numbers (onnxruntime-web against the TypeScript forward pass), the global head, and the
// version's files.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { onnx } from '../../../models/onnx/proto.ts';
import { EMBEDDING_OUTPUT, embedCatalog, hybridForward } from '../../../models/train/hybrid.ts';
import { rocAuc } from '../../../models/train/metrics.ts';
import { replaySequences } from '../../../models/train/replay.ts';
import { simulateUsers, userSequences } from '../../../models/train/simulate.ts';
import { METADATA_KEYS, trainVersion } from '../../../models/train/trainer.ts';
import { readVersionDir, writeVersionDir } from '../../../models/train/version_dir.ts';
import { loadBackbone } from '../../../src/backbone/backbone.ts';
import { catalogExample, FEATURES_INPUT, ITEM_INPUT } from '../../../src/backbone/catalog.ts';
import { headDimension } from '../../../src/backbone/feature_spec.ts';
import { packExamples } from '../../../src/backbone/features.ts';
import { readFeatureSpec, readModelMetadata } from '../../../src/backbone/model_metadata.ts';
import { headFromJson, headToJson } from '../../../src/learn/head_json.ts';
import { restoreHead } from '../../../src/learn/index.ts';
import { smallWorld, trainSmall } from './support.ts';

const version = await trainSmall(5);
const { catalog, history } = smallWorld(5);

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

interface Dim {
  dimValue: number;
  dimParam: string;
}
function decode(bytes: Uint8Array) {
  return onnx.ModelProto.toObject(onnx.ModelProto.decode(bytes), {
    longs: Number,
    defaults: true,
    arrays: true,
  }) as {
    opsetImport: { domain: string; version: number }[];
    graph: {
      input: { name: string; type: { tensorType: { shape: { dim: Dim[] } } } }[];
      output: { name: string; type: { tensorType: { shape: { dim: Dim[] } } } }[];
      node: { opType: string }[];
    };
  };
}

/** `rows` catalog items as one batch (a negative index is an all-zero one-hot). */
function batchOf(rows: number[]) {
  const width = catalog.names.length;
  const item = new Float32Array(rows.length * catalog.count);
  const features = new Float32Array(rows.length * width);
  rows.forEach((i, r) => {
    if (i >= 0) item[r * catalog.count + i] = 1;
    const source = Math.max(i, 0);
    features.set(catalog.features.subarray(source * width, (source + 1) * width), r * width);
  });
  return { [ITEM_INPUT]: item, [FEATURES_INPUT]: features };
}

describe('determinism', () => {
  test('the same seed gives byte-identical models and heads', async () => {
    const again = await trainSmall(5);
    expect(again.sha256).toBe(version.sha256);
    expect(again.bytes).toEqual(version.bytes);
    expect(again.head).toEqual(version.head);
  });

  test('another seed gives another model', async () => {
    const other = await trainSmall(6);
    expect(other.sha256).not.toBe(version.sha256);
  });
});

describe('the exported backbone', () => {
  test('carries its feature spec, with reference statistics, in metadata_props', () => {
    const spec = readFeatureSpec(version.bytes);
    expect(spec).toEqual(version.spec);
    expect(spec.inputs.map((input) => [input.name, input.size])).toEqual([
      [ITEM_INPUT, catalog.count],
      [FEATURES_INPUT, catalog.names.length],
    ]);
    const features = spec.inputs[1];
    expect(features.mean).toHaveLength(catalog.names.length);
    expect(features.reference?.mean).toHaveLength(catalog.names.length);
    expect(features.reference?.std).toHaveLength(catalog.names.length);
    expect(spec.output).toEqual({ name: EMBEDDING_OUTPUT, size: headDimension(spec) });
    expect(spec.task).toBe('binary');
    const { metadata, opset } = readModelMetadata(version.bytes);
    expect(opset).toBe(17);
    expect(metadata[METADATA_KEYS.semver]).toBe('0.1.0');
    expect(JSON.parse(metadata[METADATA_KEYS.groups])).toEqual(version.groups);
  });

  test('has a dynamic batch dimension on every input and the output', () => {
    const { graph } = decode(version.bytes);
    for (const value of [...graph.input, ...graph.output]) {
      const [batch, width] = value.type.tensorType.shape.dim;
      expect(batch.dimParam).toBe('batch');
      expect(width.dimValue).toBeGreaterThan(0);
    }
    expect(new Set(graph.node.map((node) => node.opType))).toEqual(
      new Set(['Gemm', 'Relu', 'Sub', 'Div', 'Concat']),
    );
  });

  test('onnxruntime-web matches the TypeScript forward pass (≤ 1e-5) at batch 1 and 7', async () => {
    const backbone = await loadBackbone(version.bytes);
    try {
      for (const rows of [[3], [0, 5, 17, -1, 59, 5, 42]]) {
        const inputs = batchOf(rows);
        const fromOrt = await backbone.embed({ n: rows.length, columns: inputs });
        const fromTs = hybridForward(version.params, version.spec, inputs, rows.length);
        expect(fromOrt).toHaveLength(rows.length * version.spec.output.size);
        let worst = 0;
        for (let i = 0; i < fromTs.length; i++)
          worst = Math.max(worst, Math.abs(fromOrt[i] - fromTs[i]));
        expect(worst).toBeLessThanOrEqual(1e-5);
      }
    } finally {
      await backbone.release();
    }
  });

  test('embedCatalog is bit for bit the forward pass of one-hot rows', () => {
    const all = embedCatalog(version.params, version.spec, catalog.features);
    const rows = [0, 1, 30, 59];
    const forward = hybridForward(version.params, version.spec, batchOf(rows), rows.length);
    const d = version.spec.output.size;
    rows.forEach((i, r) => {
      expect(Array.from(forward.subarray(r * d, (r + 1) * d))).toEqual(
        Array.from(all.subarray(i * d, (i + 1) * d)),
      );
    });
  });

  test('an item the version never saw gets the content MLP’s embedding', () => {
    const seen = new Set(history.item);
    const unseen = [...Array(catalog.count).keys()].find((i) => !seen.has(i));
    const d = version.spec.output.size;
    // The same content with an all-zero one-hot gives the same embedding as an unseen item.
    const probe = unseen ?? 0;
    const one = hybridForward(version.params, version.spec, batchOf([probe]), 1);
    const zero = hybridForward(
      version.params,
      version.spec,
      { ...batchOf([probe]), [ITEM_INPUT]: new Float32Array(catalog.count) },
      1,
    );
    if (unseen !== undefined) expect(Array.from(one)).toEqual(Array.from(zero));
    expect(zero).toHaveLength(d);
    expect(zero.every(Number.isFinite)).toBe(true);
  });
});

describe('the global head', () => {
  test('is the optimum of mean log loss + l2/2·|w|² (gradient ≈ 0), t = history size', () => {
    const { head } = version;
    expect(head.t).toBe(history.user.length);
    expect(head.config.optimizer).toEqual({
      kind: 'sgd',
      schedule: 'optimal',
      eta0: 0.01,
      powerT: 0.5,
    });
    expect(head.config.l2).toBe(1e-4);
    const d = head.config.dim;
    const features = embedCatalog(version.params, version.spec, catalog.features);
    const gradient = new Float64Array(d + 1);
    const model = restoreHead(head);
    const x = new Float64Array(d);
    for (let r = 0; r < history.user.length; r++) {
      const i = history.item[r];
      for (let j = 0; j < d; j++) x[j] = features[i * d + j];
      const g = model.score(x) - history.label[r];
      for (let j = 0; j < d; j++) gradient[j] += (g * x[j]) / history.user.length;
      gradient[d] += g / history.user.length;
    }
    for (let j = 0; j < d; j++) gradient[j] += head.config.l2 * head.weights[j];
    expect(Math.max(...gradient.map(Math.abs))).toBeLessThan(1e-6);
  });

  test('ranks the history better than chance', () => {
    const model = restoreHead(version.head);
    const features = embedCatalog(version.params, version.spec, catalog.features);
    const d = version.head.config.dim;
    const scores = Array.from(history.item, (i) =>
      model.score(features.subarray(i * d, (i + 1) * d)),
    );
    expect(rocAuc(scores, history.label)).toBeGreaterThan(0.6);
    expect(version.metrics.validation?.users).toBeGreaterThan(0);
  });
});

describe('the device path', () => {
  test('the trainer’s simulation is what the device pipeline computes (≤ 1e-6)', async () => {
    const sequences = userSequences(history.user, history.item, history.label).slice(0, 5);
    const features = embedCatalog(version.params, version.spec, catalog.features);
    const simulated = simulateUsers(version.head, features, version.spec.output.size, sequences);
    const replayed = await replaySequences(
      { bytes: version.bytes, head: version.head, scale: false },
      catalog,
      sequences,
    );
    for (const [u, trace] of replayed.entries()) {
      expect(trace.labels).toEqual(simulated[u].labels);
      for (const key of ['static', 'ondevice'] as const) {
        const worst = Math.max(...trace[key].map((s, t) => Math.abs(s - simulated[u][key][t])));
        expect(worst).toBeLessThanOrEqual(1e-6);
      }
    }
  });

  test('catalog examples pack against the spec', () => {
    const batch = packExamples(version.spec, [catalogExample(catalog, 7)]);
    expect(batch.columns[ITEM_INPUT][7]).toBe(1);
    expect(batch.columns[FEATURES_INPUT]).toHaveLength(catalog.names.length);
  });
});

describe('version files', () => {
  test('head.json round-trips the state exactly', () => {
    const json = JSON.parse(JSON.stringify(headToJson(version.head)));
    expect(headFromJson(json)).toEqual(version.head);
  });

  test('a version directory reads back, and a changed model is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'localfit-version-'));
    dirs.push(dir);
    const manifest = await writeVersionDir(dir, version);
    expect(manifest.model).toEqual({
      file: 'model.onnx',
      sha256: version.sha256,
      bytes: version.bytes.length,
    });
    const loaded = await readVersionDir(dir);
    expect(loaded.bytes).toEqual(version.bytes);
    expect(loaded.head).toEqual(version.head);
    expect(loaded.spec).toEqual(version.spec);
    const tampered = version.bytes.slice();
    tampered[tampered.length - 1] ^= 1;
    writeFileSync(join(dir, 'model.onnx'), tampered);
    await expect(readVersionDir(dir)).rejects.toThrow(/sha256/);
  });
});

describe('input checks', () => {
  test('unsorted history, out-of-range items and bad labels are refused', async () => {
    const bad = (patch: Partial<typeof history>) =>
      trainVersion({ ...history, ...patch }, catalog, { validation: 0 });
    const time = history.time.slice();
    time[0] = time[time.length - 1] + 1;
    await expect(bad({ time })).rejects.toThrow(/sorted/);
    const item = history.item.slice();
    item[3] = catalog.count;
    await expect(bad({ item })).rejects.toThrow(/item out of range/);
    const label = history.label.slice();
    label[2] = 2;
    await expect(bad({ label })).rejects.toThrow(/label/);
  });

  test('validation 0 trains with the given scales and no held-out figures', async () => {
    const fixed = await trainSmall(5, { validation: 0, scales: { factors: 1, constant: 0 } });
    expect(fixed.metrics.validation).toBeUndefined();
    expect(fixed.groups.find((g) => g.name === 'factors')?.scale).toBe(1);
    expect(fixed.groups.some((g) => g.name === 'constant')).toBe(false);
  });
});
