/**
 * Installs (one per app install on a device) and their bearer tokens. The token's secret is
 * stored only as sha256; authentication looks the install up by id and compares hashes in
 * constant time (server/tokens.ts).
 */
import type { RegisterRequest, RegisterResponse } from '../../src/sync/protocol.ts';
import type { Database } from '../db/database.ts';
import {
  hashSecret,
  makeDeviceToken,
  newInstallId,
  randomSecret,
  secretMatches,
  splitDeviceToken,
} from '../tokens.ts';

export async function registerInstall(
  db: Database,
  client: RegisterRequest['client'],
): Promise<RegisterResponse> {
  const installId = newInstallId();
  const secret = randomSecret();
  await db.query('insert into installs (id, token_hash, client) values ($1, $2, $3::jsonb)', [
    installId,
    hashSecret(secret),
    client === undefined ? null : JSON.stringify(client),
  ]);
  return { installId, token: makeDeviceToken(installId, secret) };
}

/**
 * The install a device token belongs to, or null. Token hashes never change once written, so
 * they are cached (bounded) to keep the hot metrics path at one transaction per request.
 */
export class InstallAuthenticator {
  private readonly cache = new Map<string, string>();

  private readonly db: Database;
  private readonly maxCached: number;
  constructor(db: Database, maxCached = 100_000) {
    this.db = db;
    this.maxCached = maxCached;
  }

  async authenticate(token: string): Promise<string | null> {
    const parts = splitDeviceToken(token);
    if (!parts) return null;
    let hash = this.cache.get(parts.installId);
    if (hash === undefined) {
      const { rows } = await this.db.query<{ token_hash: string }>(
        'select token_hash from installs where id = $1',
        [parts.installId],
      );
      if (rows.length === 0) return null;
      hash = rows[0].token_hash;
      if (this.cache.size >= this.maxCached) this.cache.clear();
      this.cache.set(parts.installId, hash);
    }
    return secretMatches(parts.secret, hash) ? parts.installId : null;
  }
}
