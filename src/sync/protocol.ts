/**
 * The sync protocol, version 1: the JSON that travels between a device and a sync server
 * (design.md, "The sync protocol (v1)"). The reference server in `server/` and the device's
 * reporter and manifest client both import these types, so this file has no imports and no
 * runtime dependencies; the few functions in it define what a wire field *means* (how an AUC
 * sketch is binned and read), so that both sides compute it the same way.
 *
 * Stability: fields are only ever added, never renamed or given a new meaning, within v1.
 * Servers ignore unknown fields in device requests, so a newer device can talk to an older
 * server; devices should likewise ignore unknown fields in server replies.
 *
 * Routes (all under `/v1`):
 *
 * | route | auth | request | reply |
 * | --- | --- | --- | --- |
 * | `GET /v1/health` | — | — | {@link HealthResponse} |
 * | `POST /v1/register` | app key in the body | {@link RegisterRequest} | 201 {@link RegisterResponse} |
 * | `GET /v1/manifest` | — | `If-None-Match` | {@link Manifest} + {@link SIGNATURE_HEADER}, or 304 |
 * | `GET /v1/public-key` | — | — | {@link PublicKeyResponse} |
 * | `GET /v1/events` | — | — | server-sent events, see {@link SyncEventMap} |
 * | `GET /v1/models/<sha256>` | — | `Range`, `If-None-Match` | the bytes (200, 206, 304 or 416) |
 * | `POST /v1/metrics` | `Authorization: Bearer <device token>` | {@link MetricsBatch} | 201 {@link MetricsResponse} |
 *
 * Every error is JSON: {@link ErrorBody} with a stable {@link SyncErrorCode}.
 */

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

// ─── metrics ────────────────────────────────────────────────────────────────────────────

/**
 * `POST /v1/metrics`: windows of aggregate metrics, never raw interactions. The server stores
 * each batch once: a retry with the same idempotency key gets the very same answer and
 * stores nothing new, and a different body under a used key is refused (409
 * `IDEMPOTENCY_CONFLICT`). Each window is also stored once per install by its `windowId`, so
 * re-batching delivered windows under a new key cannot count them twice either.
 */
export interface MetricsBatch {
  /** 8–128 characters of `[A-Za-z0-9._:-]`, unique per install (a UUID does). */
  idempotencyKey: string;
  /** 1–{@link MAX_WINDOWS_PER_BATCH} windows. */
  windows: MetricWindow[];
  /**
   * When the device sent this attempt (epoch ms); for operators. Not part of the batch's
   * identity: a retry may update it without counting as a different body.
   */
  sentAt?: number;
}

/** At most this many windows per batch (a bigger one is refused as INVALID_BODY). */
export const MAX_WINDOWS_PER_BATCH = 500;

/**
 * What one device observed for one version over one time window. Every count is a
 * non-negative integer and every sum a finite number; sections a task does not produce are
 * left out. Sums rather than means, so that the server can add windows from any number of
 * devices and still compute exact fleet-wide means.
 */
export interface MetricWindow {
  /** Unique per install (1–128 characters of `[A-Za-z0-9._:-]`): the window is stored once. */
  windowId: string;
  /** The version (`ManifestVersion.id`) that produced these predictions. */
  versionId: string;
  task: 'binary' | 'multiclass' | 'regression';
  /** The window's span, epoch milliseconds, `start <= end`. */
  start: number;
  end: number;
  /** Outcomes scored (prequentially: predicted before the head learned from them). */
  count: number;
  /** Sum of per-outcome log loss (classification). Mean = loglossSum / count. */
  loglossSum?: number;
  /** Outcomes whose top prediction was right (classification). Accuracy = correct / count. */
  correct?: number;
  /** Sum of squared and of absolute errors (regression): RMSE, MAE. */
  squaredErrorSum?: number;
  absoluteErrorSum?: number;
  /** Outcomes with the positive label (binary). */
  positives?: number;
  /** Mergeable AUC sketch (binary): see {@link AucSketch}. */
  auc?: AucSketch;
  /** Click-through and conversion counts, where the app's outcomes say so. */
  ctr?: CtrCounts;
  /** Ranking metrics over slates (a predict over N candidates, then outcomes on some). */
  ranking?: RankingSums;
  /** Prediction and feature statistics, and drift alarms. */
  drift?: DriftStats;
  /**
   * Windows of this version the device's outbox had to drop (it was full) since the last
   * delivered window of this version; they are counted here rather than lost silently.
   */
  dropped?: number;
  /** Shadow evaluation of this (staged) version against another one on the same outcomes. */
  paired?: PairedComparison;
  /**
   * What happened to this version on the device during the window, in order (at most
   * {@link MAX_VERSION_EVENTS}): staged, refused while downloading or verifying, rolled back
   * by a local guardrail, promoted. Such a window may have `count` 0.
   */
  events?: VersionEvent[];
  /**
   * A mixture head's candidates (the default head, src/learn/mixture/): for how many of the
   * window's outcomes each one led, i.e. had the largest weight when the outcome was scored
   * (at most {@link MAX_HEAD_CANDIDATES} names). Left out for single-optimizer heads.
   */
  head?: HeadLeaders;
}

export const MAX_VERSION_EVENTS = 16;
export const MAX_HEAD_CANDIDATES = 16;

/** Which head candidate led, outcome by outcome, over a window. */
export interface HeadLeaders {
  /** Outcomes led, by candidate name (e.g. `{ sgd: 180, adagrad: 20 }`); they sum to ≤ count. */
  leaders: Record<string, number>;
}

/** One change of a version's state on a device, for the server's rollout policy and status. */
export interface VersionEvent {
  kind: 'staged' | 'refused' | 'rolled_back' | 'promoted';
  /** Epoch ms. */
  at: number;
  /**
   * Why, for `refused` and `rolled_back`: a stable code first, e.g. `sha256_mismatch: …`,
   * `non_finite: …`, `latency: …` (at most 500 characters).
   */
  reason?: string;
}

/**
 * Histograms of the predicted probability of the positive class, one for outcomes whose label
 * was positive and one for negative ones, over {@link AUC_SKETCH_BINS} equal bins of [0, 1]
 * ({@link aucSketchBin}). Histograms add across windows and devices, and AUC follows from
 * the merged histograms ({@link aucFromSketch}) to within the bin width.
 */
export interface AucSketch {
  /** Exactly {@link AUC_SKETCH_BINS} non-negative integers each. */
  positive: number[];
  negative: number[];
}

export const AUC_SKETCH_BINS = 100;

export interface CtrCounts {
  /** Predictions shown to the user. */
  impressions: number;
  clicks: number;
  conversions: number;
}

export interface RankingSums {
  /** The cut-off (1–1000). One k per version and app. */
  k: number;
  /** Slates evaluated; the sums below are over them: mean P@k = precisionSum / slates. */
  slates: number;
  precisionSum: number;
  recallSum: number;
  ndcgSum: number;
}

export interface DriftStats {
  /** Moments of the predicted score (positive-class probability, or the regression output). */
  prediction?: Moments;
  /** Moments per input feature (at most 256 features, names up to 128 characters). */
  features?: (Moments & { name: string })[];
  /** Alarms raised by the device's drift detectors in this window. */
  alerts: number;
  /** Alarms per detector, e.g. `{ adwin: 1, psi: 0 }` (at most 32 names). */
  byDetector?: Record<string, number>;
}

/** Count, sum and sum of squares: mergeable mean and variance. */
export interface Moments {
  count: number;
  sum: number;
  sumSq: number;
}

/**
 * A paired comparison on the same outcomes: d = logloss(this version) − logloss(baseline),
 * for each outcome both scored. Mean difference = diffSum / n; its variance follows from
 * diffSumSq. Negative means this version is better.
 */
export interface PairedComparison {
  /** The version compared against (normally the production version). */
  baselineVersionId: string;
  n: number;
  diffSum: number;
  diffSumSq: number;
}

/** The answer to a stored (or replayed) batch. */
export interface MetricsResponse {
  idempotencyKey: string;
  /** Windows in the batch. */
  windows: number;
  /** Windows newly stored by this batch. */
  stored: number;
  /** Windows already stored by an earlier batch (same windowId, same content). */
  duplicates: number;
}

// ─── errors ─────────────────────────────────────────────────────────────────────────────

/** Every non-2xx reply (except 304) has this body. */
export interface ErrorBody {
  error: {
    code: SyncErrorCode;
    /** For humans; may change between releases. Branch on `code`. */
    message: string;
    /** For INVALID_BODY: where in the body the first problem is, e.g. `windows[3].count`. */
    path?: string;
  };
}

/**
 * Stable error codes. A device retries only RATE_LIMITED (after `Retry-After`), UNAVAILABLE
 * and INTERNAL (with backoff); it re-registers on INVALID_TOKEN; anything else is final for
 * that request (record why and drop it).
 */
export type SyncErrorCode =
  /** 400: the body is not JSON. */
  | 'BAD_JSON'
  /** 400: JSON of the wrong shape; `path` says where. */
  | 'INVALID_BODY'
  /** 400: a malformed path parameter or header (e.g. not a sha256). */
  | 'BAD_REQUEST'
  /** 401: no credentials, or not a Bearer token. */
  | 'UNAUTHORIZED'
  /** 401: the device token is unknown; register again. */
  | 'INVALID_TOKEN'
  /** 401: the app key is wrong. */
  | 'INVALID_APP_KEY'
  /** 403: valid-looking credentials that do not allow this route (e.g. not the admin token). */
  | 'FORBIDDEN'
  /** 404 */
  | 'NOT_FOUND'
  /** 405 */
  | 'METHOD_NOT_ALLOWED'
  /** 409: a different body was sent under an idempotency key already used. */
  | 'IDEMPOTENCY_CONFLICT'
  /** 409: a windowId already stored with different contents. */
  | 'WINDOW_CONFLICT'
  /** 409: admin: a version with this semver exists. */
  | 'VERSION_EXISTS'
  /** 409: admin: the version's status does not allow this action. */
  | 'INVALID_TRANSITION'
  /** 409: admin: the staged weights would sum to more than 1. */
  | 'WEIGHTS_EXCEED_ONE'
  /**
   * 409: admin: the staged version's bucket range would overlap another staged version's range
   * or pass 1 (ranges are fixed at publish; a ramp only extends its own range).
   */
  | 'BUCKETS_OVERLAP'
  /** 413: the body is larger than the server accepts. */
  | 'BODY_TOO_LARGE'
  /** 415: not `application/json` (or `application/octet-stream` for model uploads). */
  | 'UNSUPPORTED_MEDIA_TYPE'
  /** 416: a byte range outside the model. */
  | 'RANGE_NOT_SATISFIABLE'
  /** 422: admin: the uploaded bytes do not hash to the sha256 in the path. */
  | 'SHA256_MISMATCH'
  /** 422: admin: publishing a model whose bytes were not uploaded. */
  | 'UNKNOWN_MODEL'
  /** 422: admin: a feature spec that is invalid (or missing from the model). */
  | 'INVALID_FEATURE_SPEC'
  /** 429: slow down; `Retry-After` says for how many seconds. */
  | 'RATE_LIMITED'
  /** 500: a server fault (never a reaction to the input). */
  | 'INTERNAL'
  /** 503: the server cannot reach its storage; retry later. */
  | 'UNAVAILABLE';

// ─── AUC sketch semantics ───────────────────────────────────────────────────────────────

/** The bin of a probability in an {@link AucSketch}: ⌊p · bins⌋, clamped to [0, bins − 1]. */
export function aucSketchBin(probability: number): number {
  if (!(probability > 0)) return 0; // also NaN
  return Math.min(AUC_SKETCH_BINS - 1, Math.floor(probability * AUC_SKETCH_BINS));
}

/**
 * ROC AUC from (merged) histograms: P(score of a positive > score of a negative), counting
 * pairs in the same bin as ties (½). Null when either class is absent.
 */
export function aucFromSketch(sketch: AucSketch): number | null {
  let positives = 0;
  let negatives = 0;
  for (let i = 0; i < sketch.positive.length; i++) positives += sketch.positive[i];
  for (let i = 0; i < sketch.negative.length; i++) negatives += sketch.negative[i];
  if (positives === 0 || negatives === 0) return null;
  let negativesBelow = 0;
  let wins = 0;
  for (let i = 0; i < sketch.positive.length; i++) {
    const negativeHere = sketch.negative[i] ?? 0;
    wins += sketch.positive[i] * (negativesBelow + negativeHere / 2);
    negativesBelow += negativeHere;
  }
  return wins / (positives * negatives);
}
