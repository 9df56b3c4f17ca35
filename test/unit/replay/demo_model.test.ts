// The demo's committed default version (public/models/demo): rebuilding it gives the same
// bytes and sha256, it is small, well-formed, and its recorded replay check still holds.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { buildDemo, type DemoCheckJson } from '../../../models/demo/build.ts';
import { REPO_ROOT } from '../../../models/movielens/load.ts';
import { onnx } from '../../../models/onnx/proto.ts';
import { replaySequences } from '../../../models/train/replay.ts';
import { readVersionDir, stableJson } from '../../../models/train/version_dir.ts';
import { readFeatureSpec } from '../../../src/backbone/model_metadata.ts';
import './support.ts';

const DIR = join(REPO_ROOT, 'public/models/demo');
const committed = await readVersionDir(DIR);
const build = await buildDemo();

describe('demo model', () => {
  test('rebuilds byte for byte: same sha256 as the committed model.onnx', () => {
    expect(build.version.sha256).toBe(committed.manifest.model.sha256);
    expect(build.version.bytes).toEqual(committed.bytes);
    expect(build.version.head).toEqual(committed.head);
    expect(stableJson(build.catalog)).toBe(readFileSync(join(DIR, 'catalog.json'), 'utf8'));
  });

  test('is under 2 MB, with its spec in the metadata and a dynamic batch', () => {
    expect(committed.bytes.length).toBeLessThan(2 * 1024 * 1024);
    expect(readFeatureSpec(committed.bytes)).toEqual(committed.spec);
    const model = onnx.ModelProto.decode(committed.bytes);
    for (const value of [...model.graph!.input!, ...model.graph!.output!]) {
      expect(value.type?.tensorType?.shape?.dim?.[0]?.dimParam).toBe('batch');
    }
    expect(committed.spec.inputs[0]).toEqual({ name: 'item', size: build.catalog.items.length });
  });

  test('the recorded replay check reproduces in Node (≤ 1e-6)', async () => {
    const check = JSON.parse(readFileSync(join(DIR, 'check.json'), 'utf8')) as DemoCheckJson;
    expect(check.model).toBe(committed.manifest.model.sha256);
    const traces = await replaySequences(
      { bytes: committed.bytes, head: committed.head, scale: false },
      build.world.catalog,
      check.users.map((user, u) => ({ user: u, items: user.items, labels: user.labels })),
    );
    for (const [u, trace] of traces.entries()) {
      for (const key of ['static', 'ondevice'] as const) {
        const worst = Math.max(...trace[key].map((s, t) => Math.abs(s - check.users[u][key][t])));
        expect(worst).toBeLessThanOrEqual(1e-6);
      }
    }
  });
});
