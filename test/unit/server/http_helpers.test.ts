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

  test('the rollout id depends on the set of staged ids only', () => {
    expect(rolloutId(['v2', 'v3'])).toBe(rolloutId(['v3', 'v2']));
    expect(rolloutId(['v2'])).not.toBe(rolloutId(['v2', 'v3']));
    expect(rolloutId([])).toMatch(/^r-[0-9a-f]{16}$/);
  });
});
