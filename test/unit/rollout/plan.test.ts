// The rollout's rules (src/rollout/plan.ts): what a device does with a manifest, given what it runs.
import { describe, expect, test } from 'vitest';
import type { Manifest, ManifestVersion } from '../../../src/protocol/index.ts';
import type { LocalVersions } from '../../../src/rollout/plan.ts';
import { planRollout } from '../../../src/rollout/plan.ts';
import type { VersionStatus } from '../../../src/store/schema.ts';
import { manifestOf, manifestVersion, sha } from './manifests.ts';

const version = (id: string, status: ManifestVersion['status'], weight: number, model = sha('a')) =>
  manifestVersion(id, status, weight, {
    model,
    ...(status === 'staging' ? { bucketStart: 0 } : {}),
  });

const manifest = (versions: ManifestVersion[]): Manifest => manifestOf('r', versions);

function local(
  production: string,
  productionSha: string,
  staged?: string,
  statuses: Record<string, VersionStatus> = {},
  refused: string[] = [],
  guardrailed: string[] = [],
): LocalVersions {
  return {
    production: { id: production, sha256: productionSha },
    ...(staged ? { staged: { id: staged } } : {}),
    status: (id) => statuses[id],
    refused: (id) => refused.includes(id),
    guardrailed: (id) => guardrailed.includes(id),
  };
}

describe('planRollout', () => {
  test('a version dropped because the device left its arm (or the server pulled it) may come back', () => {
    const back = version('v2', 'staging', 0.5, sha('2'));
    expect(
      planRollout(
        manifest([version('v1', 'production', 1, sha('1')), back]),
        0.1,
        local('v1', sha('1'), undefined, { v2: 'rolled_back' }),
      ),
    ).toEqual([{ kind: 'stage', version: back }]);
    const promoted = version('v2', 'production', 1, sha('2'));
    expect(
      planRollout(
        manifest([promoted]),
        0.9,
        local('v1', sha('1'), undefined, { v2: 'rolled_back' }),
      ),
    ).toEqual([{ kind: 'install', version: promoted }]);
  });

  const v1 = version('v1', 'production', 1, sha('1'));
  const v2 = version('v2', 'staging', 0.5, sha('2'));

  test('nothing to do when the device runs what the server asks', () => {
    expect(planRollout(manifest([v1]), 0.9, local('v1', sha('1')))).toEqual([]);
    expect(planRollout(manifest([v1, v2]), 0.9, local('v1', sha('1')))).toEqual([]);
    expect(
      planRollout(manifest([v1, v2]), 0.1, local('v1', sha('1'), 'v2', { v2: 'staging' })),
    ).toEqual([]);
  });

  test('in the arm: stage; out of it: nothing', () => {
    expect(planRollout(manifest([v1, v2]), 0.1, local('v1', sha('1')))).toEqual([
      { kind: 'stage', version: v2 },
    ]);
    expect(planRollout(manifest([v1, v2]), 0.6, local('v1', sha('1')))).toEqual([]);
  });

  test('same bytes under the server id: adopt, no download', () => {
    expect(planRollout(manifest([v1]), 0.5, local(sha('1'), sha('1')))).toEqual([
      { kind: 'adopt', version: v1 },
    ]);
  });

  test('the staged version promoted on the server is promoted here', () => {
    const promoted = version('v2', 'production', 1, sha('2'));
    expect(
      planRollout(manifest([promoted]), 0.1, local('v1', sha('1'), 'v2', { v2: 'staging' })),
    ).toEqual([{ kind: 'promote', version: promoted }]);
  });

  test('a staged version the server dropped is dropped; a rolled-back production returns from the archive', () => {
    expect(
      planRollout(manifest([v1]), 0.1, local('v1', sha('1'), 'v2', { v2: 'staging' })),
    ).toEqual([{ kind: 'drop_staged', reason: 'server: no longer staged' }]);
    expect(
      planRollout(manifest([v1]), 0.1, local('v2', sha('2'), undefined, { v1: 'archived' })),
    ).toEqual([{ kind: 'restore', version: v1 }]);
  });

  test('a new production is installed; refused or locally rolled back versions are not tried again', () => {
    const v3 = version('v3', 'production', 1, sha('3'));
    expect(planRollout(manifest([v3]), 0.1, local('v1', sha('1')))).toEqual([
      { kind: 'install', version: v3 },
    ]);
    expect(planRollout(manifest([v3]), 0.1, local('v1', sha('1'), undefined, {}, ['v3']))).toEqual(
      [],
    );
    expect(
      planRollout(
        manifest([v1, v2]),
        0.1,
        local('v1', sha('1'), undefined, { v2: 'rolled_back' }, [], ['v2']),
      ),
    ).toEqual([]);
    expect(
      planRollout(
        manifest([v3]),
        0.1,
        local('v1', sha('1'), undefined, { v3: 'rolled_back' }, [], ['v3']),
      ),
    ).toEqual([]);
    expect(
      planRollout(manifest([v1, v2]), 0.1, local('v1', sha('1'), undefined, {}, ['v2'])),
    ).toEqual([]);
  });
});
