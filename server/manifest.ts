/**
 * The signed manifest. Its bytes are a pure function of the stored state (canonical JSON,
 * times from the database), so every server process sharing a database serves the same bytes,
 * ETag and signature for the same revision, and a device's If-None-Match works across them.
 *
 * Each request reads the one-row revision (a primary-key lookup) and rebuilds only when it
 * moved, so a change made by another process (or the CLI) is served at once.
 *
 * Every manifest expires (`expiresAt`, default 7 days after `issuedAt`) so that a device a
 * network attacker feeds 304 forever finds out it is frozen. To re-sign without any state of
 * its own, the server issues on a fixed grid: `issuedAt` is the later of the last change and
 * the start of the current half-lifetime period. Every process therefore signs the same bytes
 * at the same time, and a served manifest always has at least half its lifetime left.
 *
 * Revisions: devices refuse a revision below the one they hold (`replayed_revision`), so a
 * revision must never be reused for other content, even after the database is restored from
 * an older backup. A plain counter would be: the restored database counts on from the old
 * value, and every manifest it signs stays below what the fleet already holds until the count
 * catches up — the fleet freezes. So a change's revision is a hybrid clock (store/versions.ts
 * `bumpRevision`): the microseconds of the database clock when it commits, or the previous
 * revision + 1 if that is larger. Every revision ever signed was at most the clock of its
 * change (a counter runs ahead of the clock only past a million changes a second), so the
 * first change after a restore is above all of them, on any process and without state
 * outside the database. Until that change the restored database serves its old revision;
 * devices that hold a later one refuse it and keep what they have (server/README.md, "After
 * restoring a backup"). It needs a database clock that does not step back across the restore.
 * A database from before this scheme moves from its small counter to the clock at its next
 * change, which is still upwards.
 */

import type { AdminVersion } from '../src/protocol/admin.ts';
import { canonicalJson } from '../src/protocol/canonical_json.ts';
import type {
  Manifest,
  ManifestRounds,
  ManifestVersion,
  RoundAnnouncement,
} from '../src/protocol/index.ts';
import { PROTOCOL_VERSION } from '../src/protocol/index.ts';
import type { Database } from './db/database.ts';
import { announcements } from './federated/rounds.ts';
import { rolloutId } from './rollout/epochs.ts';
import { keyIdOf, type SigningKey, signBytes } from './signing.ts';
import { liveVersions } from './store/versions.ts';
import { sha256Hex } from './tokens.ts';

export interface SignedManifest {
  manifest: Manifest & ManifestRounds;
  /** The exact response body; the signature covers these bytes. */
  bytes: Uint8Array<ArrayBuffer>;
  /** Strong ETag, quoted. */
  etag: string;
  /** Base64 Ed25519 signature of `bytes`. */
  signature: string;
  /** The id of the key that made it (SIGNATURE_KEY_HEADER). */
  keyId: string;
}

/**
 * Where devices fetch a model: `<modelBaseUrl>/<sha256>` when a base URL is configured (a CDN
 * or object store holding the files under their sha256, see server/README.md "Model bytes and a CDN"),
 * else this server's own `/v1/models/<sha256>`, relative to the manifest. Either way devices
 * check the size and sha256 the signed manifest names, so the origin need not be trusted.
 */
export function modelUrl(sha256: string, modelBaseUrl?: string): string {
  return modelBaseUrl ? `${modelBaseUrl}/${sha256}` : `/v1/models/${sha256}`;
}

/**
 * A model base URL as configured (`--model-base-url`, LOCALFIT_MODEL_BASE_URL), checked and
 * without a trailing slash: absolute http(s), no query or fragment (the sha256 is appended).
 */
export function normalizeModelBaseUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new RangeError(`modelBaseUrl "${raw}" is not an absolute URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new RangeError(`modelBaseUrl must be http(s), not ${url.protocol}`);
  if (url.search || url.hash || raw.includes('?') || raw.includes('#'))
    throw new RangeError('modelBaseUrl takes no query or fragment (the sha256 is appended)');
  return url.href.replace(/\/+$/, '');
}

function toManifestVersion(
  version: AdminVersion,
  productionWeight: number,
  modelBaseUrl?: string,
): ManifestVersion {
  const status = version.status === 'production' ? 'production' : 'staging';
  return {
    id: version.id,
    semver: version.semver,
    status,
    weight: status === 'production' ? productionWeight : version.weight,
    model: {
      sha256: version.model.sha256,
      url: modelUrl(version.model.sha256, modelBaseUrl),
      bytes: version.model.bytes,
    },
    featureSpec: version.featureSpec,
    head: version.head,
    createdAt: version.createdAt,
    // Staged only (production serves the buckets no staged range holds).
    ...(status === 'staging' && version.bucketStart !== null
      ? { bucketStart: version.bucketStart }
      : {}),
  };
}

export const DEFAULT_MANIFEST_LIFETIME_MS = 7 * 24 * 3600 * 1000;

/** When a manifest of content changed at `changedAt` is issued if signed at `now`. */
export function issueTime(changedAt: Date, now: number, lifetimeMs: number): Date {
  const half = Math.max(1, Math.floor(lifetimeMs / 2));
  return new Date(Math.max(changedAt.getTime(), Math.floor(now / half) * half));
}

export function buildManifest(
  versions: AdminVersion[],
  revision: number,
  issuedAt: Date,
  lifetimeMs: number = DEFAULT_MANIFEST_LIFETIME_MS,
  rounds: RoundAnnouncement[] = [],
  modelBaseUrl?: string,
): Manifest & ManifestRounds {
  const staged = versions.filter((v) => v.status === 'staging');
  const stagedWeight = staged.reduce((sum, v) => sum + v.weight, 0);
  // Rounded so that float noise (1 − 0.7 − 0.2) does not leak into signed bytes.
  const productionWeight = Math.max(0, Math.round((1 - stagedWeight) * 1e9) / 1e9);
  return {
    protocol: PROTOCOL_VERSION,
    revision,
    rollout: rolloutId(staged.map((v) => v.id)),
    issuedAt: issuedAt.toISOString(),
    expiresAt: new Date(issuedAt.getTime() + lifetimeMs).toISOString(),
    versions: versions.map((v) => toManifestVersion(v, productionWeight, modelBaseUrl)),
    // Open federated rounds (server/federated/); left out when there are none, so a server
    // without rounds signs exactly the bytes it signed before rounds existed.
    ...(rounds.length > 0 ? { federated: rounds } : {}),
  };
}

export function sign(manifest: Manifest & ManifestRounds, key: SigningKey): SignedManifest {
  const bytes = new TextEncoder().encode(canonicalJson(manifest));
  return {
    manifest,
    bytes,
    etag: `"${sha256Hex(bytes)}"`,
    signature: signBytes(key, bytes),
    keyId: keyIdOf(key),
  };
}

export async function readRevision(db: Database): Promise<{ revision: number; changedAt: Date }> {
  const { rows } = await db.query<{ revision: number; changed_at: Date }>(
    'select revision, changed_at from manifest_state where id = 1',
  );
  return { revision: rows[0].revision, changedAt: rows[0].changed_at };
}

/** The current signed manifest, rebuilt only when the stored revision moved. */
export class ManifestSource {
  private current: SignedManifest | undefined;
  private building: Promise<SignedManifest> | undefined;

  private readonly db: Database;
  private readonly key: SigningKey;
  private readonly lifetimeMs: number;
  private readonly now: () => number;
  private readonly modelBaseUrl: string | undefined;
  constructor(
    db: Database,
    key: SigningKey,
    options: { lifetimeMs?: number; now?: () => number; modelBaseUrl?: string } = {},
  ) {
    this.db = db;
    this.key = key;
    this.modelBaseUrl =
      options.modelBaseUrl === undefined ? undefined : normalizeModelBaseUrl(options.modelBaseUrl);
    this.lifetimeMs = options.lifetimeMs ?? DEFAULT_MANIFEST_LIFETIME_MS;
    this.now = options.now ?? Date.now;
  }

  async get(): Promise<SignedManifest> {
    const { revision, changedAt } = await readRevision(this.db);
    const issuedAt = issueTime(changedAt, this.now(), this.lifetimeMs).toISOString();
    // Concurrent requests after a change share one rebuild; a rebuild that began before the
    // revision we saw may be older than it, so then build again. Same revision but a later
    // issue time: the grid moved on, re-sign.
    for (let attempt = 0; attempt < 3; attempt++) {
      const current = this.current?.manifest;
      if (
        current &&
        (current.revision > revision ||
          (current.revision === revision && current.issuedAt >= issuedAt))
      )
        return this.current!;
      this.building ??= this.rebuild().finally(() => {
        this.building = undefined;
      });
      await this.building;
    }
    return this.current!;
  }

  /** The last manifest built, without asking the database (may be stale). */
  peek(): SignedManifest | undefined {
    return this.current;
  }

  private async rebuild(): Promise<SignedManifest> {
    // `for share` holds off admin actions (which lock the row for update before changing
    // anything) until the versions are read too, so state and versions match.
    const { state, versions, rounds } = await this.db.transaction(async (tx) => {
      const result = await tx.query<{ revision: number; changed_at: Date }>(
        'select revision, changed_at from manifest_state where id = 1 for share',
      );
      return {
        state: result.rows[0],
        versions: await liveVersions(tx),
        rounds: await announcements(tx),
      };
    });
    const issuedAt = issueTime(state.changed_at, this.now(), this.lifetimeMs);
    const signed = sign(
      buildManifest(versions, state.revision, issuedAt, this.lifetimeMs, rounds, this.modelBaseUrl),
      this.key,
    );
    const current = this.current?.manifest;
    if (
      !current ||
      signed.manifest.revision > current.revision ||
      (signed.manifest.revision === current.revision &&
        signed.manifest.issuedAt >= current.issuedAt)
    )
      this.current = signed;
    return this.current ?? signed;
  }
}
