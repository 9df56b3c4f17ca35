// Sync options: defaults, and a typed BAD_CONFIG for settings that cannot work.
import { describe, expect, test } from 'vitest';
import { resolveSyncOptions, SYNC_DEFAULTS } from '../../../src/delivery/options.ts';
import { isLearnerError } from '../../../src/errors.ts';

describe('sync options', () => {
  test('defaults fill in; the URL loses its trailing slash', () => {
    const resolved = resolveSyncOptions({ url: 'https://sync.example.com/base/', appKey: 'k' });
    expect(resolved).toEqual({
      url: 'https://sync.example.com/base',
      appKey: 'k',
      maxOutcomes: SYNC_DEFAULTS.maxOutcomes,
      maxAgeMs: SYNC_DEFAULTS.maxAgeMs,
      flushIntervalMs: SYNC_DEFAULTS.flushIntervalMs,
      flushAtQueued: SYNC_DEFAULTS.flushAtQueued,
      maxWindowsPerRequest: SYNC_DEFAULTS.maxWindowsPerRequest,
      requestTimeoutMs: SYNC_DEFAULTS.requestTimeoutMs,
      backoffBaseMs: SYNC_DEFAULTS.backoffBaseMs,
      backoffMaxMs: SYNC_DEFAULTS.backoffMaxMs,
      maxRetryAfterMs: SYNC_DEFAULTS.maxRetryAfterMs,
    });
  });

  test.each([
    [{ url: 'not a url', appKey: 'k' }, 'url'],
    [{ url: 'ftp://x', appKey: 'k' }, 'http'],
    [{ url: 'http://x', appKey: '' }, 'appKey'],
    [{ url: 'http://x', appKey: 'k', window: { maxOutcomes: 0 } }, 'maxOutcomes'],
    [{ url: 'http://x', appKey: 'k', window: { maxOutcomes: 2.5 } }, 'maxOutcomes'],
    [{ url: 'http://x', appKey: 'k', requestTimeoutMs: Number.NaN }, 'requestTimeoutMs'],
    [{ url: 'http://x', appKey: 'k', maxWindowsPerRequest: 501 }, 'maxWindowsPerRequest'],
    [{ url: 'http://x', appKey: 'k', backoff: { baseMs: 10, maxMs: 5 } }, 'backoff'],
    [
      { url: 'http://x', appKey: 'k', registrationToken: 'a token, not a function' as never },
      'registrationToken',
    ],
  ])('%j is a BAD_CONFIG naming %s', (options, name) => {
    let error: unknown;
    try {
      resolveSyncOptions(options);
    } catch (caught) {
      error = caught;
    }
    expect(isLearnerError(error) && error.code === 'BAD_CONFIG').toBe(true);
    expect((error as Error).message).toContain(name);
  });
});
