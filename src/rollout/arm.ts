/**
 * Arm assignment: which version of a manifest this device serves.
 *
 * A device's bucket is a number in [0, 1) derived from a stable hash of its install id and the
 * manifest's rollout id, so every device of a fleet lands at a uniformly spread, reproducible
 * place. A staged version owns the bucket range `[start, start + weight)`; a device serves the
 * staged version whose range holds its bucket, and production otherwise. Because the server
 * keeps a version's start fixed while its weight grows (and the rollout id only changes when the
 * set of staged versions does), a ramp from 5 % to 25 % to 50 % only ever *adds* devices to an
 * arm; and because ranges are disjoint, a device serves at most one staged version of an A/B/n
 * experiment.
 *
 * ```ts
 * import type { Manifest } from '../protocol/index.ts';
 * import { assignArm, rolloutBucket } from './arm.ts';
 * declare const manifest: Manifest; // the verified manifest
 * const installId = 'a1b2c3'; // this install's id
 * const bucket = await rolloutBucket(installId, manifest.rollout);
 * const served = assignArm(manifest, bucket); // a staged version, or production
 * ```
 */
import type { Manifest, ManifestVersion } from '../protocol/index.ts';

/** 2^53: buckets use the first 53 bits of the hash, all a double holds exactly. */
const BUCKET_SCALE = 2 ** 53;

/**
 * The device's bucket for a rollout: the first 53 bits of sha256(`installId` + NUL + `rollout`),
 * as a fraction of 2^53. The NUL keeps ("ab", "c") and ("a", "bc") apart.
 */
export async function rolloutBucket(installId: string, rollout: string): Promise<number> {
  const input = new TextEncoder().encode(`${installId}\u0000${rollout}`);
  const digest = new DataView(await crypto.subtle.digest('SHA-256', input));
  // 32 high bits, then the top 21 bits of the next word.
  const high = digest.getUint32(0);
  const low = digest.getUint32(4) >>> 11;
  return (high * 2 ** 21 + low) / BUCKET_SCALE;
}

/** A staged version's bucket range, `[start, end)`. */
export interface BucketRange {
  version: ManifestVersion;
  start: number;
  end: number;
}

/**
 * The staged versions' ranges: where the server fixed them (`bucketStart`), or else laid end to
 * end from 0 in manifest order (publish order).
 */
export function stagedRanges(manifest: Manifest): BucketRange[] {
  let next = 0;
  const ranges: BucketRange[] = [];
  for (const version of manifest.versions) {
    if (version.status !== 'staging') continue;
    const start = version.bucketStart ?? next;
    ranges.push({ version, start, end: start + version.weight });
    next = start + version.weight;
  }
  return ranges;
}

/** The version this device serves: the staged one whose range holds its bucket, else production. */
export function assignArm(manifest: Manifest, bucket: number): ManifestVersion | undefined {
  for (const range of stagedRanges(manifest)) {
    if (bucket >= range.start && bucket < range.end) return range.version;
  }
  return manifest.versions.find((version) => version.status === 'production');
}
