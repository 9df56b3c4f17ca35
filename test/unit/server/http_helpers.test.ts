import { describe, expect, test } from 'vitest';
import {
  addressPrefix,
  clientAddressResolver,
  ProxyConfigError,
} from '../../../server/http/client_address.ts';
import { parseRange } from '../../../server/http/range.ts';
import { rolloutId } from '../../../server/rollout/epochs.ts';
import { canonicalJson } from '../../../src/protocol/canonical_json.ts';

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

describe('client addresses', () => {
  test.each([
    ['203.0.113.77', '203.0.113.0/24'],
    ['::ffff:203.0.113.77', '203.0.113.0/24'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['2001:db8:1:2::ffff:1.2.3.4', '2001:db8:1:2::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['unknown', 'unknown'],
  ])('%s keys on %s', (address, prefix) => {
    expect(addressPrefix(address)).toBe(prefix);
  });

  test('X-Forwarded-For is ignored unless the peer is a trusted proxy', () => {
    const none = clientAddressResolver();
    expect(none('127.0.0.1', '198.51.100.1')).toBe('127.0.0.1');
    const trusting = clientAddressResolver({ trustProxy: ['127.0.0.1', '10.0.0.0/8'] });
    expect(trusting('::ffff:127.0.0.1', '198.51.100.1')).toBe('198.51.100.1');
    // Read from the right: the client is the first hop that is not a trusted proxy, so what
    // the client wrote itself (the left part) cannot choose its key.
    expect(trusting('127.0.0.1', '6.6.6.6, 198.51.100.1, 10.1.2.3')).toBe('198.51.100.1');
    expect(trusting('127.0.0.1', 'garbage, 198.51.100.1')).toBe('198.51.100.1');
    expect(trusting('127.0.0.1', 'garbage')).toBe('127.0.0.1');
    expect(trusting('127.0.0.1', undefined)).toBe('127.0.0.1');
    // An untrusted peer's header means nothing.
    expect(trusting('192.0.2.9', '198.51.100.1')).toBe('192.0.2.9');
  });

  test('a trustProxy entry that is not an address is a typed error', () => {
    expect(() => clientAddressResolver({ trustProxy: ['localhost'] })).toThrow(ProxyConfigError);
    expect(() => clientAddressResolver({ trustProxy: ['10.0.0.0/33'] })).toThrow(
      /not an IP address or CIDR/,
    );
  });
});

describe('canonical JSON and rollout ids', () => {
  test('key order does not matter; undefined is dropped', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: undefined }] })).toBe('{"a":[{"d":2}],"b":1}');
    expect(canonicalJson({ a: 1, b: 2 })).toBe(canonicalJson({ b: 2, a: 1 }));
  });

  test('matches JSON.stringify of the key-sorted value on random values (number arrays included)', () => {
    // Seeded (mulberry32), so a failure repeats.
    let seed = 7;
    const next = () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    // Letters, and integer-like keys, which V8 lists first whatever the insertion order.
    const key = () =>
      next() < 0.2
        ? String(Math.floor(next() * 20))
        : String.fromCharCode(97 + Math.floor(next() * 26));
    const value = (depth: number): unknown => {
      const r = next();
      if (depth > 3 || r < 0.3)
        return [1.5e-7, -0, 42, null, true, 'a"\u2028b'][Math.floor(next() * 6)];
      if (r < 0.5) return Array.from({ length: Math.floor(next() * 5) }, () => next() * 1e6 - 5e5);
      if (r < 0.7) return Array.from({ length: Math.floor(next() * 4) }, () => value(depth + 1));
      const out: Record<string, unknown> = {};
      for (let i = Math.floor(next() * 5); i > 0; i--)
        out[key()] = next() < 0.1 ? undefined : value(depth + 1);
      return out;
    };
    // The definition, written the obvious way (no object is rebuilt: V8 would list
    // integer-like keys first again).
    const reference = (v: unknown): string => {
      if (Array.isArray(v)) return `[${v.map(reference).join(',')}]`;
      if (v === null || typeof v !== 'object') return JSON.stringify(v);
      const record = v as Record<string, unknown>;
      const keys = Object.keys(record)
        .filter((k) => record[k] !== undefined)
        .sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${reference(record[k])}`).join(',')}}`;
    };
    let inOrder = 0;
    for (let i = 0; i < 500; i++) {
      const v = value(0);
      if (JSON.stringify(v) === reference(v)) inOrder++;
      expect(canonicalJson(v)).toBe(reference(v));
    }
    // Both ways through canonicalJson were taken: values already in order, and the others.
    expect(inOrder).toBeGreaterThan(50);
    expect(inOrder).toBeLessThan(450);
  });

  test('a non-finite number anywhere is refused, in a number array too', () => {
    for (const bad of [Number.NaN, [1, Number.POSITIVE_INFINITY], { a: [{ b: [0, Number.NaN] }] }])
      expect(() => canonicalJson(bad)).toThrow(/non-finite/);
  });

  test('the rollout id depends on the set of staged ids only', () => {
    expect(rolloutId(['v2', 'v3'])).toBe(rolloutId(['v3', 'v2']));
    expect(rolloutId(['v2'])).not.toBe(rolloutId(['v2', 'v3']));
    expect(rolloutId([])).toMatch(/^r-[0-9a-f]{16}$/);
  });
});
