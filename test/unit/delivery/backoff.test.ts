// Backoff with full jitter, and Retry-After.
import { describe, expect, test } from 'vitest';
import { mulberry32 } from '../../../models/onnx/prng.ts';
import { fullJitterDelay, retryDelay } from '../../../src/delivery/backoff.ts';
import { parseRetryAfter } from '../../../src/delivery/retry_after.ts';

const policy = { baseMs: 100, maxMs: 5000 };

describe('full jitter', () => {
  test('attempt n waits in [0, min(max, base·2^(n−1)))', () => {
    const random = mulberry32(1);
    for (let attempt = 1; attempt <= 60; attempt++) {
      const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** (attempt - 1));
      for (let i = 0; i < 200; i++) {
        const delay = fullJitterDelay(attempt, policy, random);
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThan(ceiling);
        expect(Number.isInteger(delay)).toBe(true);
      }
    }
  });

  test('the bounds are reached at the extremes of the random draw', () => {
    expect(fullJitterDelay(1, policy, () => 0)).toBe(0);
    expect(fullJitterDelay(1, policy, () => 0.999999)).toBe(99);
    expect(fullJitterDelay(4, policy, () => 0.999999)).toBe(799);
    expect(fullJitterDelay(1000, policy, () => 0.999999)).toBe(4999);
  });

  test('spread: the draws fill the interval (no waves)', () => {
    const random = mulberry32(2);
    const draws = Array.from({ length: 4000 }, () => fullJitterDelay(10, policy, random));
    const quarters = [0, 0, 0, 0];
    for (const d of draws) quarters[Math.floor(d / (policy.maxMs / 4))]++;
    for (const q of quarters) expect(q).toBeGreaterThan(850);
  });

  test('Retry-After is a floor: never sooner than the server asked, nor than the backoff', () => {
    expect(retryDelay(1, policy, 3000, () => 0.5)).toBe(3000);
    expect(retryDelay(10, policy, 1000, () => 0.5)).toBe(2500);
    expect(retryDelay(2, policy, undefined, () => 0.5)).toBe(100);
  });
});

describe('Retry-After', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  const max = 60_000;

  test('delta seconds', () => {
    expect(parseRetryAfter('0', now, max)).toBe(0);
    expect(parseRetryAfter('7', now, max)).toBe(7000);
    expect(parseRetryAfter(' 12 ', now, max)).toBe(12_000);
  });

  test('HTTP dates, in the future or the past', () => {
    expect(parseRetryAfter('Wed, 01 Jan 2025 00:00:30 GMT', now, max)).toBe(30_000);
    expect(parseRetryAfter('Tue, 31 Dec 2024 23:00:00 GMT', now, max)).toBe(0);
  });

  test('capped, so one reply cannot park a device for days', () => {
    expect(parseRetryAfter('999999', now, max)).toBe(max);
    expect(parseRetryAfter('Fri, 01 Jan 2100 00:00:00 GMT', now, max)).toBe(max);
  });

  test('absent or unusable: undefined (fall back to the backoff)', () => {
    for (const value of [null, undefined, '', '-1', '1.5', 'soon', '1e3', '0x10', 'NaN']) {
      expect(parseRetryAfter(value, now, max)).toBeUndefined();
    }
  });
});
