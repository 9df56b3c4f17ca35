// The rule host apps' service workers use for model files: only complete bytes that hash to the
// sha256 in their URL are kept (src/offline/model_rules.ts). Real Request/Response objects and
// WebCrypto, as in a service worker.
import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { isVerifiedModel, MODEL_URL, ORT_RUNTIME_URL } from '../../../src/offline/model_rules.ts';

const bytes = new TextEncoder().encode('an onnx model, as far as this test cares');
const sha = createHash('sha256').update(bytes).digest('hex');

const kept = (url: string, response: Response) => isVerifiedModel(url, response);

describe('model files in the service worker cache', () => {
  test('bytes matching the sha256 in the URL are kept', async () => {
    expect(await kept(`http://127.0.0.1:1/v1/models/${sha}`, new Response(bytes))).toBe(true);
  });

  test('altered, truncated or error responses are not', async () => {
    const altered = bytes.slice();
    altered[3] ^= 1;
    const url = `http://127.0.0.1:1/v1/models/${sha}`;
    expect(await kept(url, new Response(altered))).toBe(false);
    expect(await kept(url, new Response(bytes.slice(0, 10)))).toBe(false);
    expect(await kept(url, new Response(bytes, { status: 206 }))).toBe(false);
    expect(await kept(url, new Response('not found', { status: 404 }))).toBe(false);
  });

  test('only model addresses match; the runtime rule matches ORT files, hashed names included', () => {
    expect(MODEL_URL.test(`/v1/models/${sha}`)).toBe(true);
    expect(MODEL_URL.test('/v1/models/abc')).toBe(false);
    expect(MODEL_URL.test('/v1/manifest')).toBe(false);
    expect(ORT_RUNTIME_URL.test('/assets/ort-wasm-simd-threaded-DcHrbrbl.wasm')).toBe(true);
    expect(ORT_RUNTIME_URL.test('/ort-wasm-simd-threaded.jsep.mjs')).toBe(true);
    expect(ORT_RUNTIME_URL.test('/assets/index-CZADMcmq.js')).toBe(false);
  });
});
