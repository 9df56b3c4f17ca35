/** The sync protocol's routes for registration, the signed manifest and its push stream (see index.ts). */

/** Version of this protocol; also the `/v1` in every path. */
export const PROTOCOL_VERSION = 1;

/**
 * Response header of `GET /v1/manifest`: the base64 (standard alphabet, padded) Ed25519
 * signature of the exact bytes of the response body. Verify the bytes as received, before
 * parsing them; the public key is built into the app (see {@link PublicKeyResponse}).
 */
export const SIGNATURE_HEADER = 'Localfit-Signature';

/**
 * Response header of `GET /v1/manifest` next to {@link SIGNATURE_HEADER}: the id of the key
 * that signed ({@link manifestKeyId}), so a device built with several keys (for a rotation)
 * knows which one to check, and one without it can say so. Not covered by the signature: it
 * only picks the key; the signature must still verify with that key.
 */
export const SIGNATURE_KEY_HEADER = 'Localfit-Signature-Key';

/**
 * A key's id: the first 16 characters of its raw public key in base64. Derived from the key,
 * so server and app agree on it without configuration.
 */
export function manifestKeyId(rawBase64: string): string {
  return rawBase64.trim().slice(0, 16);
}

// ─── health and registration ────────────────────────────────────────────────────────────

export interface HealthResponse {
  ok: true;
  protocol: typeof PROTOCOL_VERSION;
  /** Which storage the server runs on; for operators, not for devices to branch on. */
  storage: 'pglite' | 'postgres';
}

/** `POST /v1/register`: an install asks for its identity and token. */
export interface RegisterRequest {
  /** The app key the app was built with; it says which app this is, it is not a secret. */
  appKey: string;
  /** Optional, free-form, for operators only (each string at most 200 characters). */
  client?: { platform?: string; appVersion?: string; sdkVersion?: string };
}

export interface RegisterResponse {
  /** Stable id of this install; the rollout's arm assignment hashes it. */
  installId: string;
  /**
   * Bearer token for device-only routes (`Authorization: Bearer <token>`). Shown once: the
   * server keeps only its sha256. Opaque to the device; store it with the install id.
   */
  token: string;
}

// ─── manifest ───────────────────────────────────────────────────────────────────────────

/** Lifecycle of a version: `draft → staging → production → archived`, or `rolled_back`. */
export type VersionStatus = 'draft' | 'staging' | 'production' | 'archived' | 'rolled_back';

/**
 * `GET /v1/manifest`: what a device should run. Served with a strong `ETag` (clients send
 * `If-None-Match` and get 304 when nothing changed) and a detached signature in
 * {@link SIGNATURE_HEADER}. The body's bytes are stable: the same state always serialises to
 * the same bytes, so the ETag and the signature only change when the manifest does.
 */
export interface Manifest {
  protocol: typeof PROTOCOL_VERSION;
  /**
   * Increases by at least one with every change. A device never accepts a manifest whose
   * revision is lower than one it already accepted (a replayed, older signed manifest).
   */
  revision: number;
  /**
   * Changes exactly when the set of staged versions changes (publish, promote, roll back),
   * and not when a weight is ramped. Arm assignment hashes the install id with it, so a ramp
   * only ever adds devices to an arm.
   */
  rollout: string;
  /**
   * When these bytes were signed (ISO 8601, UTC): the time of the last change, or later when
   * the server re-signed the same content before it expired. A device refuses a manifest
   * issued before the one it holds (a replay of older, genuinely signed bytes).
   */
  issuedAt: string;
  /**
   * After this instant (ISO 8601, UTC) the signature no longer vouches for the content: a device
   * refuses the manifest, and one that only ever gets this manifest (a network answering 304
   * forever) knows it is frozen (a `rollout` event `stale_manifest`). The server re-signs well
   * before (at least half the lifetime remains on every manifest it serves).
   */
  expiresAt: string;
  /**
   * The production version (at most one) and the staged versions (any number, weights summing
   * to at most 1), staged ones in publish order, oldest first.
   */
  versions: ManifestVersion[];
}

export interface ManifestVersion {
  /** Server-made id, e.g. `v3`; every metric window names the version by it. */
  id: string;
  semver: string;
  status: 'production' | 'staging';
  /**
   * Share of traffic (0..1). For a staged version, the share of devices that serve it; for the
   * production version, the rest: 1 − the sum of the staged weights.
   */
  weight: number;
  model: ModelRef;
  /**
   * The feature spec (`FeatureSpec` in src/backbone/feature_spec.ts) as JSON. The server has
   * checked its shape; the device must still check the downloaded model against it.
   */
  featureSpec: Record<string, unknown>;
  /**
   * The initial head to start from, as JSON in the device's own format, or null: start a fresh
   * head from the feature spec. Opaque to the server (it checks only that it is JSON).
   */
  head: Record<string, unknown> | null;
  /** When the version was published (ISO 8601). */
  createdAt: string;
  /**
   * Staged versions only: where the version's bucket range starts. A device whose bucket b
   * (src/rollout/arm.ts) satisfies `bucketStart <= b < bucketStart + weight` serves it. The
   * server fixes the start at publish time and keeps staged ranges disjoint, so ramping a
   * weight only ever adds devices. Absent: ranges are laid end to end from 0 in manifest order.
   */
  bucketStart?: number;
}

export interface ModelRef {
  /** Lowercase hex sha256 of the model bytes; the bytes must match it before they run. */
  sha256: string;
  /** Where to fetch them: `/v1/models/<sha256>`, relative to the manifest's URL. */
  url: string;
  /** Exact size in bytes (for a size cap while streaming). */
  bytes: number;
}

/** `GET /v1/public-key`: the key that signs manifests, to build into the app. */
export interface PublicKeyResponse {
  algorithm: 'Ed25519';
  /** The 32-byte raw public key, base64 (WebCrypto `importKey('raw', …, 'Ed25519')`). */
  raw: string;
  /** The same key as SubjectPublicKeyInfo PEM. */
  spki: string;
  /** Its id ({@link manifestKeyId}), sent in {@link SIGNATURE_KEY_HEADER}. */
  keyId: string;
  /**
   * During a key rotation (server/README.md, "Rotating the signing key"): the raw key that
   * will sign next. Build apps with both (`rollout: { publicKeys: [raw, next] }`).
   */
  next?: { raw: string; keyId: string };
}

// ─── events ─────────────────────────────────────────────────────────────────────────────

/**
 * `GET /v1/events` is a server-sent event stream. Each event's `data` is JSON. The server
 * sends a `manifest` event as soon as the stream opens (so a reconnecting client catches up)
 * and again whenever the manifest changes, and a `heartbeat` every few seconds so clients and
 * proxies can tell a quiet stream from a dead one.
 */
export interface SyncEventMap {
  manifest: ManifestEvent;
  heartbeat: HeartbeatEvent;
}

export interface ManifestEvent {
  revision: number;
  rollout: string;
  /** The ETag `GET /v1/manifest` now answers with; if it is the one you hold, do nothing. */
  etag: string;
}

export interface HeartbeatEvent {
  /** Server time (ISO 8601). */
  at: string;
}
