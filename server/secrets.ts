/**
 * The admin token and the app key, configured or made on first start.
 *
 * The admin token: a configured one (option / LOCALFIT_ADMIN_TOKEN) wins. Otherwise the one
 * made on first start, whose sha256 is kept in the database (so every process sharing it
 * accepts it) and whose plaintext goes, once, to `<data dir>/admin-token` (mode 0600).
 *
 * The app key identifies the app to registration; it ships inside the app, so it is no secret
 * and is kept in the database as is (and printed at start).
 */

import { type DataDir, readAdminTokenFile, writeAdminTokenFile } from './data_dir.ts';
import type { Database } from './db/database.ts';
import { getOrCreateSetting } from './store/settings.ts';
import { hashSecret, randomSecret, secretMatches } from './tokens.ts';

export const MIN_SECRET_LENGTH = 16;

export interface Secrets {
  adminTokenHash: string;
  /** The admin token itself, when this process knows it (configured, or read from the file). */
  adminToken?: string;
  /** Where it came from, to tell the operator. */
  adminTokenSource: 'configured' | 'generated' | 'file' | 'unknown';
  appKey: string;
}

export interface SecretOptions {
  adminToken?: string;
  appKey?: string;
  dataDir?: DataDir;
}

export async function resolveSecrets(db: Database, options: SecretOptions): Promise<Secrets> {
  for (const [name, value] of [
    ['admin token', options.adminToken],
    ['app key', options.appKey],
  ] as const)
    if (value !== undefined && value.length < MIN_SECRET_LENGTH)
      throw new Error(`the ${name} must have at least ${MIN_SECRET_LENGTH} characters`);

  const appKey =
    options.appKey ??
    (await getOrCreateSetting(db, 'app_key', () => `lf_app_${randomSecret()}`)).value;

  if (options.adminToken !== undefined)
    return {
      adminTokenHash: hashSecret(options.adminToken),
      adminToken: options.adminToken,
      adminTokenSource: 'configured',
      appKey,
    };

  const candidate = `lf_admin_${randomSecret()}`;
  const stored = await getOrCreateSetting(db, 'admin_token_hash', () => hashSecret(candidate));
  if (stored.created) {
    if (options.dataDir) await writeAdminTokenFile(options.dataDir, candidate);
    return {
      adminTokenHash: stored.value,
      adminToken: candidate,
      adminTokenSource: 'generated',
      appKey,
    };
  }
  const fromFile = options.dataDir ? await readAdminTokenFile(options.dataDir) : undefined;
  if (fromFile && secretMatches(fromFile, stored.value))
    return { adminTokenHash: stored.value, adminToken: fromFile, adminTokenSource: 'file', appKey };
  return { adminTokenHash: stored.value, adminTokenSource: 'unknown', appKey };
}
