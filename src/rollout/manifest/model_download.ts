/**
 * Fetching and verifying the model bytes a signed manifest names (design invariant 3). Two
 * steps, each refusing with `LearnerError('BAD_MODEL', '<code>: <detail>')`:
 *
 * 1. {@link downloadModel}: streams `GET /v1/models/<sha256>`, hashing as the bytes arrive and
 *    giving up the moment more arrive than the manifest promised (or the device allows), so a
 *    hostile or broken server can neither fill memory nor slip in other bytes.
 *    Codes: {@link DownloadFailureCode}.
 * 2. {@link loadVerifiedBackbone}: loads the verified bytes into an onnxruntime InferenceSession
 *    (`loadBackbone`) and checks the graph against the version's feature spec — input and
 *    output names, types and widths, and a warm-up run. This is the step that decides a version
 *    may become `staging`; what it returns is the warmed backbone, ready to serve.
 *    Codes: `bad_feature_spec`, `bad_model` (not a model onnxruntime can load),
 *    `shape_mismatch` (a model, but not one that fits the spec).
 */

import { sha256 } from '@noble/hashes/sha2.js';
import { type Backbone, loadBackbone } from '../../backbone/backbone.ts';
import { validateFeatureSpec } from '../../backbone/feature_spec.ts';
import { describeError, isLearnerError, LearnerError } from '../../errors.ts';
import type { ModelRef } from '../../protocol/index.ts';

export type DownloadFailureCode =
  | 'too_large'
  | 'truncated'
  | 'sha256_mismatch'
  | `http_${number}`
  | 'timeout'
  | 'network';

export type VerifyFailureCode = 'bad_feature_spec' | 'bad_model' | 'shape_mismatch';

export interface DownloadOptions {
  /** The most bytes this device accepts for one model, whatever the manifest says. */
  maxBytes: number;
  /** For the whole download, body included. Default 120 s. */
  timeoutMs?: number;
  /** Aborts the download (the learner is closing): rejects with a CLOSED error. */
  signal?: AbortSignal;
  fetch?: typeof fetch;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

function refuse(code: DownloadFailureCode | VerifyFailureCode, detail: string): LearnerError {
  return new LearnerError('BAD_MODEL', `${code}: ${detail}`);
}

/**
 * The reason code of a refusal from this module (`sha256_mismatch`, `shape_mismatch`…), or
 * undefined for any other error.
 */
export function refusalCode(error: unknown): DownloadFailureCode | VerifyFailureCode | undefined {
  if (!isLearnerError(error) || error.code !== 'BAD_MODEL') return undefined;
  const code = /^([a-z0-9_]+):/.exec(error.message)?.[1];
  return code as DownloadFailureCode | VerifyFailureCode | undefined;
}

function hex(bytes: Uint8Array): string {
  let out = '';
  for (const byte of bytes) out += byte.toString(16).padStart(2, '0');
  return out;
}

/**
 * The model bytes `ref` names, fetched from `ref.url` resolved against `manifestUrl` (the URL
 * the manifest was fetched from, or the server's base URL), and proven to be exactly
 * `ref.bytes` bytes hashing to `ref.sha256`.
 */
export async function downloadModel(
  manifestUrl: string,
  ref: ModelRef,
  options: DownloadOptions,
): Promise<Uint8Array> {
  if (!SHA256_HEX.test(ref.sha256))
    throw refuse('sha256_mismatch', `the manifest's sha256 "${ref.sha256}" is not a sha256`);
  if (!Number.isSafeInteger(ref.bytes) || ref.bytes <= 0)
    throw refuse('truncated', `the manifest's size ${ref.bytes} is not a positive integer`);
  if (!(options.maxBytes > 0))
    throw new LearnerError('BAD_CONFIG', 'downloadModel: maxBytes must be positive');
  if (ref.bytes > options.maxBytes)
    throw refuse(
      'too_large',
      `the manifest says ${ref.bytes} bytes; the limit is ${options.maxBytes}`,
    );
  let url: URL;
  try {
    url = new URL(ref.url, manifestUrl);
  } catch {
    throw refuse('network', `cannot resolve "${ref.url}" against ${manifestUrl}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw refuse('network', `refusing to fetch ${url.protocol} URLs`);

  const timeoutMs = options.timeoutMs ?? 120_000;
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  const onAbort = () => controller.abort();
  options.signal?.addEventListener('abort', onAbort);
  const expected = ref.bytes;
  try {
    if (options.signal?.aborted) controller.abort();
    const response = await (options.fetch ?? fetch)(url.href, {
      // Not the HTTP cache: a poisoned entry (bytes that once failed the hash) would be served
      // again on every retry. Verified bytes are kept in IndexedDB instead.
      cache: 'no-store',
      signal: controller.signal,
    });
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => {});
      throw refuse(`http_${response.status}`, `GET ${url.pathname} answered ${response.status}`);
    }
    const declared = response.headers.get('content-length');
    if (declared !== null && Number(declared) > expected) {
      await response.body?.cancel().catch(() => {});
      throw refuse('too_large', `the server announces ${declared} bytes; expected ${expected}`);
    }
    if (!response.body) throw refuse('truncated', 'the response has no body');
    const bytes = new Uint8Array(expected);
    const hash = sha256.create();
    const reader = response.body.getReader();
    let received = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (received + value.length > expected) {
        await reader.cancel().catch(() => {});
        throw refuse('too_large', `more than the ${expected} bytes the manifest promised arrived`);
      }
      bytes.set(value, received);
      hash.update(value);
      received += value.length;
    }
    if (received < expected) throw refuse('truncated', `${received} of ${expected} bytes arrived`);
    const digest = hex(hash.digest());
    if (digest !== ref.sha256)
      throw refuse(
        'sha256_mismatch',
        `the bytes hash to ${digest}, the manifest says ${ref.sha256}`,
      );
    return bytes;
  } catch (error) {
    if (isLearnerError(error)) throw error;
    if (options.signal?.aborted) throw new LearnerError('CLOSED', 'model download aborted');
    if (timedOut) throw refuse('timeout', `not complete within ${timeoutMs} ms`);
    throw refuse('network', error instanceof Error ? error.message : String(error));
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * Loads downloaded, hash-verified bytes and proves they implement `featureSpec` (the signed
 * manifest's, which wins over any spec embedded in the model). Resolves with the warmed
 * backbone; the caller owns it (and must `release()` it).
 */
export async function loadVerifiedBackbone(
  bytes: Uint8Array,
  featureSpec: Record<string, unknown>,
): Promise<Backbone> {
  let spec: ReturnType<typeof validateFeatureSpec>;
  try {
    spec = validateFeatureSpec(featureSpec);
  } catch (error) {
    throw refuse('bad_feature_spec', describeError(error));
  }
  try {
    return await loadBackbone(bytes, spec);
  } catch (error) {
    // loadBackbone's one failure before the graph exists is onnxruntime refusing the bytes;
    // everything after (names, types, widths, the warm-up run) is a model that does not fit.
    const message = describeError(error);
    if (/^onnxruntime could not load/.test(message)) throw refuse('bad_model', message);
    throw refuse('shape_mismatch', message);
  }
}
