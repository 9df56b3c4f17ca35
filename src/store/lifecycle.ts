import type { VersionStatus } from './schema.ts';

/**
 * The version lifecycle: `draft → staging → production → archived`, with `rolled_back` as an
 * exit from staging or production. `archived → production` is the instant rollback the kept
 * archived versions exist for. `rolled_back → staging` is a version offered again: a device
 * that left an arm and re-enters it, or a version the server staged anew (the rollout decides;
 * one a device's own guardrail rolled back is never offered again there).
 */
export const TRANSITIONS: Readonly<Record<VersionStatus, readonly VersionStatus[]>> = {
  draft: ['staging'],
  staging: ['production', 'rolled_back'],
  production: ['archived', 'rolled_back'],
  archived: ['production'],
  rolled_back: ['staging'],
};

/** Statuses a version may be added with (a fresh device installs production directly). */
export const INITIAL_STATUSES: readonly VersionStatus[] = ['draft', 'staging', 'production'];

export function canTransition(from: VersionStatus, to: VersionStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** Statuses that serve traffic: their model bytes must be present. */
export function isLive(status: VersionStatus): boolean {
  return status === 'staging' || status === 'production';
}

/** Statuses retention may remove (oldest first, beyond the last K). */
export function isRetired(status: VersionStatus): boolean {
  return status === 'archived' || status === 'rolled_back';
}
