// What a sync server's answer means to the device: ok, retry, register again, or give up.
import { describe, expect, test } from 'vitest';
import { classifyResponse, postJson } from '../../../src/delivery/http.ts';

const accept = (body: unknown) =>
  (body as { ok?: boolean } | undefined)?.ok === true ? body : undefined;
const headers = (values: Record<string, string> = {}) => new Headers(values);
const error = (code: string) => JSON.stringify({ error: { code, message: code.toLowerCase() } });
const classify = (status: number, text: string, h = headers()) =>
  classifyResponse(status, h, text, accept, 0, 60_000);

describe('classifying answers', () => {
  test('2xx with the expected body is ok; a malformed one is retried (invariant 5)', () => {
    expect(classify(201, '{"ok":true}')).toEqual({ kind: 'ok', status: 201, body: { ok: true } });
    expect(classify(200, '<html>captive portal</html>')).toMatchObject({
      kind: 'retry',
      reason: 'bad-reply',
    });
    expect(classify(201, '{"ok":false}')).toMatchObject({ kind: 'retry', reason: 'bad-reply' });
  });

  test('5xx, 408 and 429 are retried, with Retry-After when given', () => {
    expect(classify(500, error('INTERNAL'))).toEqual({
      kind: 'retry',
      reason: 'server',
      status: 500,
      code: 'INTERNAL',
      message: 'internal',
    });
    expect(classify(503, error('UNAVAILABLE'), headers({ 'retry-after': '5' }))).toMatchObject({
      kind: 'retry',
      reason: 'server',
      retryAfterMs: 5000,
    });
    expect(classify(429, error('RATE_LIMITED'), headers({ 'retry-after': '2' }))).toMatchObject({
      kind: 'retry',
      reason: 'rate-limited',
      code: 'RATE_LIMITED',
      retryAfterMs: 2000,
    });
    expect(classify(502, 'Bad Gateway')).toMatchObject({ kind: 'retry', code: 'HTTP_502' });
    expect(classify(408, '')).toMatchObject({ kind: 'retry', status: 408 });
  });

  test('401 for the token means register again; for the app key it is final', () => {
    expect(classify(401, error('INVALID_TOKEN'))).toMatchObject({
      kind: 'reauth',
      code: 'INVALID_TOKEN',
    });
    expect(classify(401, error('UNAUTHORIZED'))).toMatchObject({ kind: 'reauth' });
    expect(classify(401, error('INVALID_APP_KEY'))).toMatchObject({ kind: 'reject' });
  });

  test('invalid batches are final, with the server’s code', () => {
    for (const [status, code] of [
      [400, 'INVALID_BODY'],
      [400, 'BAD_JSON'],
      [409, 'WINDOW_CONFLICT'],
      [409, 'IDEMPOTENCY_CONFLICT'],
      [413, 'BODY_TOO_LARGE'],
      [415, 'UNSUPPORTED_MEDIA_TYPE'],
      [422, 'SOMETHING_NEW'],
    ] as const) {
      expect(classify(status, error(code))).toEqual({
        kind: 'reject',
        status,
        code,
        message: code.toLowerCase(),
      });
    }
    expect(classify(404, 'not json')).toMatchObject({ kind: 'reject', code: 'HTTP_404' });
  });
});

describe('sending', () => {
  const options = { timeoutMs: 50, maxRetryAfterMs: 60_000, accept };

  test('a request with no answer in time is abandoned and retried', async () => {
    const hang: typeof fetch = (_url, init) =>
      new Promise((_resolve, reject) => {
        init?.signal?.addEventListener('abort', () =>
          reject(new DOMException('aborted', 'AbortError')),
        );
      });
    const reply = await postJson('http://127.0.0.1:9/v1/metrics', {}, { ...options, fetch: hang });
    expect(reply).toMatchObject({ kind: 'retry', reason: 'timeout' });
  });

  test('a refused connection is a network error, retried', async () => {
    const refuse: typeof fetch = () => Promise.reject(new TypeError('Failed to fetch'));
    const reply = await postJson(
      'http://127.0.0.1:9/v1/metrics',
      {},
      { ...options, fetch: refuse },
    );
    expect(reply).toEqual({ kind: 'retry', reason: 'network', message: 'Failed to fetch' });
  });

  test('stopping aborts a request in flight without concluding anything', async () => {
    const stopper = new AbortController();
    const hang: typeof fetch = (_url, init) =>
      new Promise((_resolve, reject) => {
        init?.signal?.addEventListener('abort', () =>
          reject(new DOMException('aborted', 'AbortError')),
        );
      });
    const sending = postJson(
      'http://127.0.0.1:9/',
      {},
      { ...options, timeoutMs: 10_000, signal: stopper.signal, fetch: hang },
    );
    stopper.abort();
    expect(await sending).toMatchObject({ kind: 'aborted' });
  });

  test('sends JSON with the bearer token', async () => {
    let seen: RequestInit | undefined;
    const ok: typeof fetch = async (_url, init) => {
      seen = init;
      return new Response('{"ok":true}', { status: 201 });
    };
    await postJson('http://127.0.0.1:9/', { a: 1 }, { ...options, token: 't.k', fetch: ok });
    expect(seen?.method).toBe('POST');
    expect(seen?.body).toBe('{"a":1}');
    expect((seen?.headers as Record<string, string> | undefined)?.authorization).toBe('Bearer t.k');
  });
});
