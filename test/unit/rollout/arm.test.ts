// Arm assignment over a simulated fleet: 1,000 distinct install ids, the bucket rule of
// src/rollout/arm.ts, and the manifest shapes the server sends (one staged version, A/B/n).
import { describe, expect, test } from 'vitest';
import type { Manifest } from '../../../src/protocol/index.ts';
import { assignArm, rolloutBucket, stagedRanges } from '../../../src/rollout/arm.ts';
import { manifestOf as manifest, manifestVersion } from './manifests.ts';

const version = (
  id: string,
  status: 'production' | 'staging',
  weight: number,
  bucketStart?: number,
) => manifestVersion(id, status, weight, { bucketStart });

const installs = Array.from({ length: 1000 }, (_, i) => `install-${i}-${(i * 7919) % 1000}`);

/** The two-sided 99.9 % interval of Binomial(n, p), normal approximation (z = 3.2905). */
function binomialInterval(n: number, p: number): [number, number] {
  const half = 3.2905 * Math.sqrt(n * p * (1 - p));
  return [n * p - half, n * p + half];
}

async function served(m: Manifest): Promise<(string | undefined)[]> {
  return Promise.all(
    installs.map(async (id) => assignArm(m, await rolloutBucket(id, m.rollout))?.id),
  );
}

describe('arm assignment', () => {
  test('buckets are stable, in [0, 1), and depend on both the install and the rollout', async () => {
    const a = await rolloutBucket('install-1', 'rollout-a');
    expect(await rolloutBucket('install-1', 'rollout-a')).toBe(a);
    expect(a).toBeGreaterThanOrEqual(0);
    expect(a).toBeLessThan(1);
    expect(await rolloutBucket('install-1', 'rollout-b')).not.toBe(a);
    expect(await rolloutBucket('install-2', 'rollout-a')).not.toBe(a);
    // The separator keeps ("ab", "c") and ("a", "bc") apart.
    expect(await rolloutBucket('ab', 'c')).not.toBe(await rolloutBucket('a', 'bc'));
  });

  test('1,000 installs: 10 % staged lands inside the binomial 99.9 % interval, and a ramp to 50 % keeps every device', async () => {
    const at10 = await served(
      manifest('r1', [version('v1', 'production', 0.9), version('v2', 'staging', 0.1, 0)]),
    );
    const share10 = at10.filter((id) => id === 'v2').length;
    const [low10, high10] = binomialInterval(1000, 0.1);
    expect(share10).toBeGreaterThanOrEqual(low10);
    expect(share10).toBeLessThanOrEqual(high10);

    const at50 = await served(
      manifest('r1', [version('v1', 'production', 0.5), version('v2', 'staging', 0.5, 0)]),
    );
    const share50 = at50.filter((id) => id === 'v2').length;
    const [low50, high50] = binomialInterval(1000, 0.5);
    expect(share50).toBeGreaterThanOrEqual(low50);
    expect(share50).toBeLessThanOrEqual(high50);
    at10.forEach((id, i) => {
      if (id === 'v2') expect(at50[i]).toBe('v2');
    });
    expect(at50.every((id) => id === 'v1' || id === 'v2')).toBe(true);
  });

  test('A/B/n: disjoint ranges, each device serves at most one staged version, ramps of either only add devices', async () => {
    const before = manifest('r2', [
      version('v1', 'production', 0.7),
      version('v2', 'staging', 0.1, 0),
      version('v3', 'staging', 0.2, 0.5),
    ]);
    const after = manifest('r2', [
      version('v1', 'production', 0.3),
      version('v2', 'staging', 0.4, 0),
      version('v3', 'staging', 0.3, 0.5),
    ]);
    const ranges = stagedRanges(before);
    expect(ranges.map((r) => [r.start, r.end])).toEqual([
      [0, 0.1],
      [0.5, expect.closeTo(0.7, 12)],
    ]);
    const first = await served(before);
    const second = await served(after);
    for (const [id, share] of [
      ['v2', 0.1],
      ['v3', 0.2],
    ] as const) {
      const count = first.filter((served) => served === id).length;
      const [low, high] = binomialInterval(1000, share);
      expect(count).toBeGreaterThanOrEqual(low);
      expect(count).toBeLessThanOrEqual(high);
    }
    first.forEach((id, i) => {
      if (id !== 'v1') expect(second[i]).toBe(id);
    });
  });

  test('without bucketStart, staged ranges are laid end to end in manifest order', () => {
    const m = manifest('r3', [
      version('v2', 'staging', 0.25),
      version('v1', 'production', 0.5),
      version('v3', 'staging', 0.25),
    ]);
    expect(stagedRanges(m).map((r) => [r.version.id, r.start, r.end])).toEqual([
      ['v2', 0, 0.25],
      ['v3', 0.25, 0.5],
    ]);
    expect(assignArm(m, 0.3)?.id).toBe('v3');
    expect(assignArm(m, 0.5)?.id).toBe('v1');
  });
});
