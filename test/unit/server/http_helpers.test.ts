import { describe, expect, test } from 'vitest';
import { canonicalJson } from '../../../server/canonical_json.ts';
import { parseRange } from '../../../server/http/range.ts';
import { RateLimiter } from '../../../server/http/rate_limit.ts';
import { rolloutId } from '../../../server/rollout/epochs.ts';

describe('byte ranges', () => {
  test.each([
    ['bytes=0-9', { kind: 'partial', start: 0, end: 9 }],
    ['bytes=90-', { kind: 'partial', start: 90, end: 99 }],
    ['bytes=-5', { kind: 'partial', start: 95, end: 99 }],
    ['bytes=-500', { kind: 'partial', start: 0, end: 99 }],
    ['bytes=50-500', { kind: 'partial', start: 50, end: 99 }],
    ['bytes=100-', { kind: 'unsatisfiable' }],
    ['bytes=-0', { kind: 'unsatisfiable' }],
    ['bytes=9999999999999999999-', { kind: 'unsatisfiable' }],
    ['bytes=5-1', { kind: 'full' }],
    ['bytes=0-1,3-4', { kind: 'full' }],
    ['lines=0-1', { kind: 'full' }],
    ['bytes=-', { kind: 'full' }],
  ])('%s of 100 bytes', (header, expected) => {
    expect(parseRange(header, 100)).toEqual(expected);
  });
});

describe('rate limiter', () => {
  test('a burst, then Retry-After until the bucket refills; keys are independent', () => {
    let now = 0;
    const limiter = new RateLimiter({ burst: 2, perSecond: 0.5, now: () => now });
    expect(limiter.take('a')).toEqual({ ok: true });
    expect(limiter.take('a')).toEqual({ ok: true });
    expect(limiter.take('a')).toEqual({ ok: false, retryAfterSeconds: 2 });
    expect(limiter.take('b')).toEqual({ ok: true });
    now = 1000;
    expect(limiter.take('a')).toEqual({ ok: false, retryAfterSeconds: 1 });
    now = 3000;
    expect(limiter.take('a')).toEqual({ ok: true });
  });

  test('memory stays bounded', () => {
    const limiter = new RateLimiter({ burst: 1, perSecond: 1, maxKeys: 100 });
    for (let i = 0; i < 10_000; i++) limiter.take(`k${i}`);
    expect(
      (limiter as unknown as { buckets: Map<string, unknown> }).buckets.size,
    ).toBeLessThanOrEqual(100);
  });
});

describe('canonical JSON and rollout ids', () => {
  test('key order does not matter; undefined is dropped', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: undefined }] })).toBe('{"a":[{"d":2}],"b":1}');
    expect(canonicalJson({ a: 1, b: 2 })).toBe(canonicalJson({ b: 2, a: 1 }));
  });

  test('the rollout id depends on the set of staged ids only', () => {
    expect(rolloutId(['v2', 'v3'])).toBe(rolloutId(['v3', 'v2']));
    expect(rolloutId(['v2'])).not.toBe(rolloutId(['v2', 'v3']));
    expect(rolloutId([])).toMatch(/^r-[0-9a-f]{16}$/);
  });
});
