// Manifests as the server sends them, made up for the rollout's unit tests.
import type { Manifest, ManifestVersion } from '../../../src/protocol/index.ts';

/** A sha256 of one repeated hex digit: distinct models, readable in a failure. */
export const sha = (digit: string): string => digit.repeat(64);

export function manifestVersion(
  id: string,
  status: ManifestVersion['status'],
  weight: number,
  { model = sha('a'), bucketStart }: { model?: string; bucketStart?: number } = {},
): ManifestVersion {
  return {
    id,
    semver: '1.0.0',
    status,
    weight,
    model: { sha256: model, url: `/v1/models/${model}`, bytes: 1 },
    featureSpec: {},
    head: null,
    createdAt: '2026-01-01T00:00:00.000Z',
    ...(bucketStart !== undefined ? { bucketStart } : {}),
  };
}

export function manifestOf(rollout: string, versions: ManifestVersion[]): Manifest {
  return {
    protocol: 1,
    revision: 1,
    rollout,
    issuedAt: '2026-01-01T00:00:00.000Z',
    expiresAt: '2026-01-08T00:00:00.000Z',
    versions,
  };
}
