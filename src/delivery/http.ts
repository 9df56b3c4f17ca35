/**
 * One JSON request to the sync server, and what its answer means for the caller. Every way a
 * request can end is sorted into four kinds, following protocol.ts's error policy:
 *
 * - `ok`: a 2xx whose body has the expected shape.
 * - `retry`: worth trying again later — no connection, no answer in time, a 5xx, 408 or 429
 *   (with the server's Retry-After, when it gave one), or a 2xx with a malformed body (a
 *   captive portal, a broken proxy: the request may not have reached the server, and the
 *   server answers a retried idempotent request as it did the first time).
 * - `reauth`: 401 for the device token: register again.
 * - `reject`: the server refused the request itself (400, 409, 413, 422…, or a wrong app key):
 *   sending the same bytes again cannot succeed.
 */
import { describeError } from '../errors.ts';
import type { ErrorBody } from '../protocol/index.ts';
import { parseRetryAfter } from './retry_after.ts';

export type RetryReason = 'network' | 'timeout' | 'server' | 'rate-limited' | 'bad-reply';

export type Reply<T> =
  | { kind: 'ok'; status: number; body: T }
  | {
      kind: 'retry';
      reason: RetryReason;
      status?: number;
      code?: string;
      /** The server's Retry-After, in ms (capped), when it sent a usable one. */
      retryAfterMs?: number;
      message: string;
    }
  | { kind: 'reauth'; status: number; code: string; message: string }
  | { kind: 'reject'; status: number; code: string; message: string }
  /** The caller aborted (the learner is closing): nothing to conclude. */
  | { kind: 'aborted'; message: string };

export interface RequestOptions<T> {
  /** `Authorization: Bearer <token>`. */
  token?: string;
  timeoutMs: number;
  /** Aborts the request when the caller stops (closing). */
  signal?: AbortSignal;
  maxRetryAfterMs: number;
  /** Checks a 2xx body; undefined means malformed. */
  accept: (body: unknown) => T | undefined;
  fetch?: typeof fetch;
  now?: () => number;
}

/** Sends `body` as JSON and classifies the outcome; never throws. */
export async function postJson<T>(
  url: string,
  body: unknown,
  options: RequestOptions<T>,
): Promise<Reply<T>> {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, options.timeoutMs);
  const onStop = () => controller.abort();
  options.signal?.addEventListener('abort', onStop);
  try {
    if (options.signal?.aborted) return { kind: 'aborted', message: 'stopped before sending' };
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    const response = await (options.fetch ?? fetch)(url, {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
      signal: controller.signal,
      // No `cache: 'no-store'`: POSTs are not cached anyway, and Chromium would then also skip
      // its CORS preflight cache, sending an OPTIONS before every request.
    });
    // Reading the body is covered by the same timeout: a server can stall mid-body too.
    const text = await response.text();
    return classifyResponse(
      response.status,
      response.headers,
      text,
      options.accept,
      (options.now ?? Date.now)(),
      options.maxRetryAfterMs,
    );
  } catch (error) {
    if (timedOut) {
      return {
        kind: 'retry',
        reason: 'timeout',
        message: `no answer within ${options.timeoutMs} ms`,
      };
    }
    if (options.signal?.aborted) return { kind: 'aborted', message: 'stopped' };
    return { kind: 'retry', reason: 'network', message: describeError(error) };
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onStop);
  }
}

/** What an HTTP answer means; pure, so every branch is unit-tested. */
export function classifyResponse<T>(
  status: number,
  headers: { get(name: string): string | null },
  text: string,
  accept: (body: unknown) => T | undefined,
  now: number,
  maxRetryAfterMs: number,
): Reply<T> {
  const json = parseJson(text);
  if (status >= 200 && status < 300) {
    const body = accept(json);
    return body === undefined
      ? { kind: 'retry', reason: 'bad-reply', status, message: `malformed ${status} reply` }
      : { kind: 'ok', status, body };
  }
  const error = (json as ErrorBody | undefined)?.error;
  const code = typeof error?.code === 'string' ? error.code : `HTTP_${status}`;
  const message = typeof error?.message === 'string' ? error.message : `HTTP ${status}`;
  if (status === 429 || status === 408 || status >= 500) {
    const retryAfterMs = parseRetryAfter(headers.get('retry-after'), now, maxRetryAfterMs);
    const reason = status === 429 ? 'rate-limited' : 'server';
    return retryAfterMs === undefined
      ? { kind: 'retry', reason, status, code, message }
      : { kind: 'retry', reason, status, code, message, retryAfterMs };
  }
  if (status === 401 && code !== 'INVALID_APP_KEY')
    return { kind: 'reauth', status, code, message };
  return { kind: 'reject', status, code, message };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
