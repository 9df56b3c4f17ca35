/**
 * Installs (one per app install on a device) and their bearer tokens. The token's secret is
 * stored only as sha256; authentication looks the install up by id and compares hashes in
 * constant time (server/tokens.ts).
 */
import type { RegisterRequest, RegisterResponse } from '../../src/protocol/index.ts';
import { type Database, prepared } from '../db/database.ts';
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
  /** Who a verified registration credential named (server/register_verify.ts). */
  subject?: string,
): Promise<RegisterResponse> {
  const installId = newInstallId();
  const secret = randomSecret();
  await db.query(
    'insert into installs (id, token_hash, client, subject) values ($1, $2, $3::jsonb, $4)',
    [
      installId,
      hashSecret(secret),
      client === undefined ? null : JSON.stringify(client),
      subject ?? null,
    ],
  );
  return { installId, token: makeDeviceToken(installId, secret) };
}

/**
 * The install a device token belongs to, or null. Token hashes never change once written, so
 * they are cached (bounded) to keep the hot metrics path at one transaction per request.
 *
 * Installs expire: one that has not authenticated for `inactiveMs` no longer does (the device
 * gets 401 INVALID_TOKEN and registers again). Its rows stay, so the evidence it sent still
 * counts. Each cached install is re-checked against the database, and its `last_seen_at`
 * refreshed, at most every `touchMs` (an hour, or a tenth of `inactiveMs` if shorter); so
 * another process may accept an expired token for at most that long.
 */
const AUTHENTICATE_SQL = prepared(
  `select token_hash from installs
   where id = $1 and last_seen_at > now() - make_interval(secs => $2::float8)`,
);

export class InstallAuthenticator {
  private readonly cache = new Map<string, { hash: string; checkedAt: number }>();

  private readonly db: Database;
  private readonly maxCached: number;
  private readonly inactiveMs: number;
  private readonly touchMs: number;
  constructor(db: Database, options: { inactiveMs?: number; maxCached?: number } = {}) {
    this.db = db;
    this.maxCached = options.maxCached ?? 100_000;
    this.inactiveMs = options.inactiveMs ?? 180 * 24 * 3600 * 1000;
    if (!(this.inactiveMs > 0)) throw new RangeError('inactive installs expire after > 0 ms');
    this.touchMs = Math.min(3600 * 1000, this.inactiveMs / 10);
  }

  async authenticate(token: string): Promise<string | null> {
    const parts = splitDeviceToken(token);
    if (!parts) return null;
    const now = performance.now();
    let cached = this.cache.get(parts.installId);
    if (cached === undefined || now - cached.checkedAt >= this.touchMs) {
      const { rows } = await this.db.query<{ token_hash: string }>(AUTHENTICATE_SQL, [
        parts.installId,
        this.inactiveMs / 1000,
      ]);
      if (rows.length === 0) {
        this.cache.delete(parts.installId);
        return null;
      }
      // Only the holder of the token keeps an install alive.
      if (!secretMatches(parts.secret, rows[0].token_hash)) return null;
      // Written only when it moves by more than the re-check interval: seen-at precision
      // of an hour is enough to expire after months, and most requests then write nothing.
      await this.db.query(
        `update installs set last_seen_at = now()
         where id = $1 and last_seen_at < now() - make_interval(secs => $2::float8)`,
        [parts.installId, this.touchMs / 1000],
      );
      cached = { hash: rows[0].token_hash, checkedAt: now };
      if (this.cache.size >= this.maxCached) this.cache.clear();
      this.cache.set(parts.installId, cached);
    }
    return secretMatches(parts.secret, cached.hash) ? parts.installId : null;
  }
}
