/**
 * What a device does with a verified manifest: a pure comparison of what the server asks for
 * with what the device runs, so the rules can be read (and tested) in one place.
 *
 * - The server promoted the version this device stages → promote it here too (its head is
 *   already personalised: it learned every outcome since it was staged).
 * - The device stages a version the manifest no longer gives it (rolled back on the server, or
 *   the staged set changed and the device left its arm) → drop it.
 * - Production changed: an archived version comes back at once from IndexedDB (instant
 *   rollback); a version with the very bytes the device runs is adopted with its learned head;
 *   anything else is downloaded, verified and swapped in.
 * - The device's bucket falls in a staged version's range → download, verify and stage it.
 *
 * A version the device refused (bytes that failed verification) or rolled back itself
 * (a guardrail) is not tried again: its id names the same bytes forever. One it dropped because
 * the server pulled it or the device left its arm may come back when the server offers it.
 */

import type { Manifest, ManifestVersion } from '../protocol/index.ts';
import type { VersionStatus } from '../store/schema.ts';
import { assignArm } from './arm.ts';

/** What the device runs, and what it remembers about versions. */
export interface LocalVersions {
  production: { id: string; sha256: string };
  staged?: { id: string };
  /** Stored versions' statuses, by id. */
  status(id: string): VersionStatus | undefined;
  /** Versions whose bytes failed verification here. */
  refused(id: string): boolean;
  /** Versions this device's own guardrails rolled back. */
  guardrailed(id: string): boolean;
}

export type RolloutAction =
  | { kind: 'promote'; version: ManifestVersion }
  | { kind: 'drop_staged'; reason: string }
  | { kind: 'restore'; version: ManifestVersion }
  | { kind: 'adopt'; version: ManifestVersion }
  | { kind: 'install'; version: ManifestVersion }
  | { kind: 'stage'; version: ManifestVersion };

export function planRollout(
  manifest: Manifest,
  bucket: number,
  local: LocalVersions,
): RolloutAction[] {
  const actions: RolloutAction[] = [];
  const production = manifest.versions.find((version) => version.status === 'production');
  const arm = assignArm(manifest, bucket);
  const available = (id: string) => !local.refused(id) && !local.guardrailed(id);
  let staged = local.staged?.id;
  let current = local.production.id;

  if (staged !== undefined) {
    if (production?.id === staged) {
      actions.push({ kind: 'promote', version: production });
      current = staged;
    } else if (!(arm?.status === 'staging' && arm.id === staged)) {
      const stillStaged = manifest.versions.some((v) => v.id === staged && v.status === 'staging');
      actions.push({
        kind: 'drop_staged',
        reason: stillStaged ? 'unassigned: the device left its arm' : 'server: no longer staged',
      });
    }
    staged = undefined;
  }

  if (production && production.id !== current) {
    const status = local.status(production.id);
    if (status === 'archived') actions.push({ kind: 'restore', version: production });
    else if (production.model.sha256 === local.production.sha256) {
      actions.push({ kind: 'adopt', version: production });
    } else if (available(production.id)) {
      actions.push({ kind: 'install', version: production });
    }
  }

  if (
    arm?.status === 'staging' &&
    arm.id !== local.staged?.id &&
    (local.status(arm.id) === undefined || local.status(arm.id) === 'rolled_back') &&
    available(arm.id)
  ) {
    actions.push({ kind: 'stage', version: arm });
  }
  return actions;
}
