// The freshness rules a device applies to a verified manifest (expiry, replayed revision,
// replayed issue time), and the server's issue grid that keeps every served manifest at least
// half its lifetime from expiry.
import { describe, expect, test } from 'vitest';
import { issueTime } from '../../../../server/manifest.ts';
import type { Manifest } from '../../../../src/protocol/index.ts';
import {
  checkFreshness,
  checkManifest,
  floorProblem,
  isStale,
} from '../../../../src/rollout/manifest/manifest_check.ts';
import { manifestOf } from '../manifests.ts';

const DAY = 24 * 3600 * 1000;
const issued = Date.parse('2026-01-01T00:00:00.000Z');

function manifest(revision: number, issuedAtMs: number, lifetimeMs = 7 * DAY): Manifest {
  return {
    ...manifestOf('r1', []),
    revision,
    issuedAt: new Date(issuedAtMs).toISOString(),
    expiresAt: new Date(issuedAtMs + lifetimeMs).toISOString(),
  };
}

describe('checkManifest: issue and expiry times', () => {
  test('accepts ISO instants with expiresAt after issuedAt', () => {
    const m = manifest(3, issued);
    expect(checkManifest(m)).toEqual(m);
  });

  test.each([
    [{ expiresAt: undefined }, 'expiresAt: must be an ISO 8601 UTC time'],
    [{ expiresAt: '2026-01-08' }, 'expiresAt: must be an ISO 8601 UTC time'],
    [{ issuedAt: 'yesterday' }, 'issuedAt: must be an ISO 8601 UTC time'],
    [{ expiresAt: '2026-01-01T00:00:00.000Z' }, 'expiresAt: must be after issuedAt'],
    [{ expiresAt: '2025-12-31T00:00:00.000Z' }, 'expiresAt: must be after issuedAt'],
  ])('refuses %j', (change, why) => {
    const result = checkManifest({ ...manifest(3, issued), ...change });
    expect(typeof result).toBe('string');
    expect(result).toContain(why);
  });
});

describe('checkFreshness', () => {
  const held = { revision: 5, issuedAt: new Date(issued).toISOString() };

  test('a fresh install accepts any unexpired manifest', () => {
    expect(checkFreshness(manifest(1, issued), undefined, issued + DAY)).toBeUndefined();
  });

  test('an expired manifest is refused, even by a fresh install', () => {
    const m = manifest(9, issued);
    expect(checkFreshness(m, undefined, issued + 7 * DAY)).toBe(
      'expired_manifest: revision 9 expired at 2026-01-08T00:00:00.000Z',
    );
    expect(checkFreshness(m, held, issued + 8 * DAY)).toMatch(/^expired_manifest: /);
    expect(checkFreshness(m, held, issued + 7 * DAY - 1)).toBeUndefined();
  });

  test('a lower revision is a replay', () => {
    expect(checkFreshness(manifest(4, issued + DAY), held, issued + DAY)).toBe(
      'replayed_revision: 4 < 5',
    );
  });

  test('the same revision issued earlier than the held one is a replay; later is a re-signing', () => {
    expect(checkFreshness(manifest(5, issued - 1), held, issued)).toMatch(/^replayed_issued_at: /);
    expect(checkFreshness(manifest(6, issued - 1), held, issued)).toMatch(/^replayed_issued_at: /);
    expect(checkFreshness(manifest(5, issued), held, issued)).toBeUndefined();
    expect(checkFreshness(manifest(5, issued + DAY), held, issued + DAY)).toBeUndefined();
  });

  test('state saved before manifests expired (no issuedAt) still refuses lower revisions', () => {
    expect(checkFreshness(manifest(5, issued), { revision: 5 }, issued)).toBeUndefined();
    expect(checkFreshness(manifest(4, issued), { revision: 5 }, issued)).toMatch(
      /^replayed_revision/,
    );
  });

  test('isStale: only a held manifest past its expiresAt', () => {
    const expiresAt = new Date(issued + DAY).toISOString();
    expect(isStale(undefined, issued)).toBe(false);
    expect(isStale({ revision: 1 }, issued + 100 * DAY)).toBe(false);
    expect(isStale({ revision: 1, expiresAt }, issued + DAY - 1)).toBe(false);
    expect(isStale({ revision: 1, expiresAt }, issued + DAY)).toBe(true);
  });
});

describe('issueTime (server): the re-signing grid', () => {
  const lifetime = 7 * DAY;
  const changed = new Date(issued + 1000);

  test('right after a change, the manifest is issued at the change', () => {
    expect(issueTime(changed, issued + 2000, lifetime)).toEqual(changed);
  });

  test('at every moment, a served manifest has more than half its lifetime left', () => {
    for (let now = issued + 1000; now < issued + 30 * DAY; now += 3 * 3600 * 1000 + 17) {
      const at = issueTime(changed, now, lifetime).getTime();
      expect(at).toBeLessThanOrEqual(now);
      expect(at + lifetime - now).toBeGreaterThan(lifetime / 2);
    }
  });

  test('the issue time only moves forward, in steps of half the lifetime', () => {
    const a = issueTime(changed, issued + 4 * DAY, lifetime).getTime();
    const b = issueTime(changed, issued + 4 * DAY + 3600_000, lifetime).getTime();
    const c = issueTime(changed, issued + 8 * DAY, lifetime).getTime();
    expect(b).toBe(a);
    expect(c - a).toBe(lifetime / 2);
  });
});

describe('checkFreshness: the floor built into the app (notBefore)', () => {
  test('a revision floor refuses lower revisions, even for a fresh install', () => {
    expect(checkFreshness(manifest(4, issued), undefined, issued, 5)).toBe(
      'below_floor: revision 4 < notBefore 5',
    );
    expect(checkFreshness(manifest(5, issued), undefined, issued, 5)).toBeUndefined();
  });

  test('a time floor refuses manifests issued before it', () => {
    const floor = new Date(issued + 1000).toISOString();
    expect(checkFreshness(manifest(9, issued), undefined, issued + 2000, floor)).toBe(
      `below_floor: issued 2026-01-01T00:00:00.000Z, before notBefore ${floor}`,
    );
    expect(checkFreshness(manifest(9, issued + 1000), undefined, issued + 2000, floor)).toBe(
      undefined,
    );
  });

  test('floorProblem: integers ≥ 0 and ISO UTC times only', () => {
    expect(floorProblem(0)).toBeUndefined();
    expect(floorProblem('2026-01-01T00:00:00Z')).toBeUndefined();
    for (const bad of [-1, 1.5, Number.NaN, '2026-01-01', 'soon', null, {}])
      expect(floorProblem(bad)).toMatch(/^notBefore must be/);
  });
});
