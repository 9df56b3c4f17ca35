// Downloading and verifying the model a signed manifest names, in real Chromium against a real
// sync server behind the rollout lab's tampering proxy: only bytes that are exactly the ones
// named, and a graph that fits the version's feature spec, come out; every other case is
// refused with its reason code.
import wasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.wasm?url';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { mulberry32 } from '../../../models/onnx/prng.ts';
import { makeTestBackbone } from '../../../models/testing.ts';
import { configureOrt } from '../../../src/backbone/configure_ort.ts';
import type { ManifestVersion } from '../../../src/protocol/index.ts';
import { ManifestClient } from '../../../src/rollout/manifest/manifest_client.ts';
import {
  downloadModel,
  loadVerifiedBackbone,
  refusalCode,
} from '../../../src/rollout/manifest/model_download.ts';
import { importManifestKey } from '../../../src/rollout/manifest/signature.ts';
import { sha256Hex } from '../../../src/sha256.ts';
import { hasRolloutLab, type LabServer, newLabServer } from './rollout_lab.ts';

const good = makeTestBackbone({ seed: 41 });
const other = makeTestBackbone({ seed: 42 });
/** 8 embedding floats promised, 6 delivered. */
const narrow = makeTestBackbone({ seed: 43, embedding: 6 });
/** `item` of 5, where the spec says 8. */
const wrongInput = makeTestBackbone({ seed: 44, inputSize: 5 });
const noise = mulberry32(45);
const notOnnx = Uint8Array.from({ length: 3000 }, () => Math.floor(noise() * 256));

const MAX_BYTES = 4 * 1024 * 1024;

/** The refusal's reason code and message, or 'resolved' when there was none. */
async function refusal(work: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    const value = await work;
    if (value && typeof (value as { release?: unknown }).release === 'function')
      await (value as { release(): Promise<void> }).release();
    return { code: 'resolved', message: '' };
  } catch (error) {
    expect(error).toMatchObject({ name: 'LearnerError', code: 'BAD_MODEL' });
    return { code: refusalCode(error) ?? 'unknown', message: (error as Error).message };
  }
}

describe.runIf(hasRolloutLab)(
  'model download and verification (real server, tampering proxy)',
  () => {
    let lab: LabServer;
    const versions: Record<string, ManifestVersion> = {};
    let manifestUrl: string;

    beforeAll(async () => {
      configureOrt(wasmUrl);
      lab = await newLabServer();
      // Same architecture, other weights: the same size, so only the hash can tell them apart.
      expect(other.bytes.length).toBe(good.bytes.length);
      const ids = {
        good: (await lab.publish({ bytes: good.bytes, weight: 0.05 })).id,
        other: (await lab.publish({ bytes: other.bytes, weight: 0.05 })).id,
        narrow: (
          await lab.publish({ bytes: narrow.bytes, weight: 0.05, featureSpec: { ...good.spec } })
        ).id,
        wrongInput: (
          await lab.publish({
            bytes: wrongInput.bytes,
            weight: 0.05,
            featureSpec: { ...good.spec },
          })
        ).id,
        notOnnx: (
          await lab.publish({ bytes: notOnnx, weight: 0.05, featureSpec: { ...good.spec } })
        ).id,
      };
      // The refs come from the verified manifest, as they would on a device.
      const client = new ManifestClient({
        url: lab.url,
        verifier: await importManifestKey(lab.publicKey.raw),
        events: false,
        onManifest: (manifest) => {
          for (const [name, id] of Object.entries(ids))
            versions[name] = manifest.versions.find((v) => v.id === id)!;
        },
      });
      expect((await client.start()).kind).toBe('accepted');
      client.stop();
      manifestUrl = `${lab.url}/v1/manifest`;
    });
    afterEach(async () => {
      await lab.tamper({ model: { kind: 'pass' } });
    });
    afterAll(async () => {
      await lab?.close();
    });

    const download = (
      name: string,
      patch: Partial<ManifestVersion['model']> = {},
      maxBytes = MAX_BYTES,
    ) =>
      downloadModel(
        manifestUrl,
        { ...versions[name].model, ...patch },
        { maxBytes, timeoutMs: 20_000 },
      );

    test('the named bytes download, verify, and load as a backbone that fits the spec', async () => {
      const ref = versions.good.model;
      expect(ref).toEqual({
        sha256: await sha256Hex(good.bytes),
        url: `/v1/models/${ref.sha256}`,
        bytes: good.bytes.length,
      });
      const started = performance.now();
      const bytes = await download('good');
      const downloaded = performance.now();
      expect(bytes).toEqual(good.bytes);
      const backbone = await loadVerifiedBackbone(bytes, versions.good.featureSpec);
      const loaded = performance.now();
      try {
        expect(backbone.spec).toEqual(good.spec);
        expect(backbone.sha256).toBe(ref.sha256);
        const columns = {
          item: new Float32Array(8).fill(0.5),
          context: new Float32Array(4).fill(-1),
        };
        const embedding = await backbone.embed({ n: 1, columns });
        const expected = good.forward(columns, 1);
        for (let i = 0; i < expected.length; i++) expect(embedding[i]).toBeCloseTo(expected[i], 5);
      } finally {
        await backbone.release();
      }
      console.info(
        `[download] ${bytes.length} bytes: download+hash ${(downloaded - started).toFixed(1)} ms, ` +
          `load+check ${(loaded - downloaded).toFixed(1)} ms`,
      );
    });

    test('changed bytes: sha256_mismatch', async () => {
      await lab.tamper({ model: { kind: 'flip' } });
      expect((await refusal(download('good'))).code).toBe('sha256_mismatch');
    });

    test('the server serves another model under the name: sha256_mismatch', async () => {
      await lab.tamper({ model: { kind: 'swap', sha256: versions.other.model.sha256 } });
      expect((await refusal(download('good'))).code).toBe('sha256_mismatch');
    });

    test('the manifest names another sha256 than the bytes at its URL have: sha256_mismatch', async () => {
      const result = await refusal(download('good', { sha256: versions.other.model.sha256 }));
      expect(result.code).toBe('sha256_mismatch');
      expect(result.message).toContain(versions.good.model.sha256);
    });

    test('a download cut short: truncated', async () => {
      await lab.tamper({ model: { kind: 'truncate' } });
      const result = await refusal(download('good'));
      expect(result).toEqual({
        code: 'truncated',
        message: `truncated: ${good.bytes.length >> 1} of ${good.bytes.length} bytes arrived`,
      });
    });

    test('more bytes than promised, without a Content-Length: too_large while streaming', async () => {
      await lab.tamper({ model: { kind: 'pad', bytes: 64 * 1024 } });
      const result = await refusal(download('good'));
      expect(result.code).toBe('too_large');
      expect(result.message).toContain('more than the');
    });

    test('the server announces more bytes than the manifest promised: too_large', async () => {
      const result = await refusal(download('good', { bytes: good.bytes.length - 1 }));
      expect(result.code).toBe('too_large');
    });

    test('a model above the device limit is refused before any request: too_large', async () => {
      const since = (await lab.log()).length;
      const result = await refusal(download('good', {}, good.bytes.length - 1));
      expect(result.code).toBe('too_large');
      expect(await lab.log(since)).toEqual([]);
    });

    test('an error status: http_<status>; no server: network', async () => {
      await lab.tamper({ model: { kind: 'status', status: 404 } });
      expect((await refusal(download('good'))).code).toBe('http_404');
      const offline = downloadModel('http://127.0.0.1:9/v1/manifest', versions.good.model, {
        maxBytes: MAX_BYTES,
      });
      expect((await refusal(offline)).code).toBe('network');
    });

    test('a download that stalls halfway: timeout', async () => {
      await lab.tamper({ model: { kind: 'stall' } });
      const result = await refusal(
        downloadModel(manifestUrl, versions.good.model, { maxBytes: MAX_BYTES, timeoutMs: 500 }),
      );
      expect(result).toEqual({ code: 'timeout', message: 'timeout: not complete within 500 ms' });
    });

    test('bytes that are not ONNX pass the hash and are refused when loaded: bad_model', async () => {
      const bytes = await download('notOnnx');
      expect(bytes).toEqual(notOnnx);
      expect((await refusal(loadVerifiedBackbone(bytes, versions.notOnnx.featureSpec))).code).toBe(
        'bad_model',
      );
    });

    test.each([
      ['an output narrower than the spec', 'narrow'],
      ['an input narrower than the spec', 'wrongInput'],
    ])('%s: shape_mismatch', async (_what, name) => {
      const bytes = await download(name);
      const result = await refusal(loadVerifiedBackbone(bytes, versions[name].featureSpec));
      expect(result.code).toBe('shape_mismatch');
      expect(result.message).toMatch(/shape|should be/);
    });

    test('a feature spec that is no spec: bad_feature_spec', async () => {
      const bytes = await download('good');
      expect((await refusal(loadVerifiedBackbone(bytes, { inputs: 'none' }))).code).toBe(
        'bad_feature_spec',
      );
    });
  },
);
