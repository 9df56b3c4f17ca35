// The demo's committed version in Chromium: the replay check that `npm run models` computed in
// Node (public/models/demo/check.json) must come out of the real learner worker to 1e-6.
import { afterEach, describe, expect, inject, test } from 'vitest';
import type { DemoCatalogJson, DemoCheckJson } from '../../../models/demo/build.ts';
import type { ItemCatalog } from '../../../models/train/types.ts';
import { catalogExample } from '../../../src/backbone/catalog.ts';
import { headFromJson } from '../../../src/learn/head_json.ts';
import { cleanup, replayInWorker, worstDifference } from './support.ts';

afterEach(cleanup);

async function fetchJson<T>(path: string): Promise<T> {
  const response = await fetch(path);
  expect(response.ok).toBe(true);
  return (await response.json()) as T;
}

describe('demo version in the real worker', () => {
  test('scores agree with the Node replay recorded at build time (≤ 1e-6)', {
    timeout: 120_000 * inject('timeScale'),
  }, async () => {
    const bytes = new Uint8Array(await (await fetch('/models/demo/model.onnx')).arrayBuffer());
    const head = headFromJson(await fetchJson('/models/demo/head.json'));
    const check = await fetchJson<DemoCheckJson>('/models/demo/check.json');
    const catalogFile = await fetchJson<DemoCatalogJson>('/models/demo/catalog.json');
    const catalog: ItemCatalog = {
      count: catalogFile.items.length,
      names: catalogFile.names,
      features: Float32Array.from(catalogFile.items.flatMap((item) => item.features)),
    };
    const digest = await crypto.subtle.digest('SHA-256', bytes);
    const hex = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
    expect(hex).toBe(check.model);

    for (const user of check.users) {
      const examples = user.items.map((i) => catalogExample(catalog, i));
      const scores = await replayInWorker(bytes, head, examples, user.labels);
      expect(worstDifference(scores.static, user.static)).toBeLessThanOrEqual(1e-6);
      expect(worstDifference(scores.ondevice, user.ondevice)).toBeLessThanOrEqual(1e-6);
      // Learning happened: the learning head's scores moved away from the static ones.
      expect(worstDifference(scores.ondevice, scores.static)).toBeGreaterThan(1e-3);
      await cleanup();
    }
  });
});
