/**
 * The batch hash that tells a retried metrics batch from a different one under the same key
 * (server/store/metrics.ts) is built from the windows' canonical texts instead of
 * canonicalising the batch whole: it must stay byte for byte what canonicalJson gives, or a
 * retry across an upgrade would be refused as IDEMPOTENCY_CONFLICT.
 */
import { expect, test } from 'vitest';
import { batchCanonicalJson } from '../../../server/store/metrics.ts';
import { canonicalJson } from '../../../src/protocol/canonical_json.ts';

test('batchCanonicalJson is canonicalJson of the batch, whatever the key order and fields', () => {
  const windows = [
    {
      windowId: 'w-2',
      versionId: 'v1',
      task: 'binary',
      start: 1,
      end: 2,
      count: 3,
      auc: { positive: [1, 0], negative: [0, 2] },
    },
    {
      end: 5,
      count: 1,
      windowId: 'w-1',
      versionId: 'v2',
      task: 'regression',
      start: 4,
      dropped: undefined,
    },
  ];
  const batches: Record<string, unknown>[] = [
    { idempotencyKey: 'k', windows },
    { windows, idempotencyKey: 'k "quoted" \u2028', extra: { windows: [], z: null }, a: undefined },
    { zeta: [1, 'windows'], windows: [windows[1]], idempotencyKey: 'k2' },
  ];
  for (const batch of batches) {
    const texts = (batch.windows as unknown[]).map((w) => canonicalJson(w));
    expect(batchCanonicalJson(batch, texts)).toBe(canonicalJson(batch));
  }
});
