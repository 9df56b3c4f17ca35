/**
 * The shape a manifest must have before a device acts on it. The signature says who wrote the
 * bytes, not that they make sense: a server bug (or a signing key used by a faulty tool) could
 * still sign weights above 1 or a sha256 that is no sha256, and the device must refuse those
 * rather than act on half of them (design invariant 5).
 */
import { MANIFEST_ROUNDS_FIELD } from '../../protocol/federated.ts';
import type { Manifest, ManifestVersion, ModelRef } from '../../protocol/index.ts';
import { PROTOCOL_VERSION } from '../../protocol/index.ts';

/** Staged weights are sums of decimal fractions: allow the float noise of adding them. */
const WEIGHT_SLACK = 1e-9;
const MAX_VERSIONS = 64;
const SHA256 = /^[0-9a-f]{64}$/;

class Malformed extends Error {}

function fail(path: string, why: string): never {
  throw new Malformed(`${path}: ${why}`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function text(value: unknown, path: string, max = 200): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max)
    fail(path, `must be a string of 1–${max} characters`);
  return value;
}

/** An ISO 8601 UTC instant as the server writes them (`Date.toISOString`). */
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;

function instant(value: unknown, path: string): string {
  if (typeof value !== 'string' || !INSTANT.test(value) || Number.isNaN(Date.parse(value)))
    fail(path, 'must be an ISO 8601 UTC time (YYYY-MM-DDTHH:MM:SS.sssZ)');
  return value;
}

function fraction(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 1)
    fail(path, 'must be a number in [0, 1]');
  return value;
}

function modelRef(value: unknown, path: string): ModelRef {
  if (!isObject(value)) fail(path, 'must be an object');
  if (typeof value.sha256 !== 'string' || !SHA256.test(value.sha256))
    fail(`${path}.sha256`, 'must be a lowercase hex sha256');
  const url = text(value.url, `${path}.url`, 2000);
  if (typeof value.bytes !== 'number' || !Number.isSafeInteger(value.bytes) || value.bytes <= 0)
    fail(`${path}.bytes`, 'must be a positive integer');
  return { sha256: value.sha256, url, bytes: value.bytes };
}

function version(value: unknown, path: string): ManifestVersion {
  if (!isObject(value)) fail(path, 'must be an object');
  const status = value.status;
  if (status !== 'production' && status !== 'staging')
    fail(`${path}.status`, "must be 'production' or 'staging'");
  const weight = fraction(value.weight, `${path}.weight`);
  if (!isObject(value.featureSpec)) fail(`${path}.featureSpec`, 'must be an object');
  if (value.head !== null && !isObject(value.head))
    fail(`${path}.head`, 'must be an object or null');
  const parsed: ManifestVersion = {
    id: text(value.id, `${path}.id`, 128),
    semver: text(value.semver, `${path}.semver`, 100),
    status,
    weight,
    model: modelRef(value.model, `${path}.model`),
    featureSpec: value.featureSpec,
    head: value.head,
    createdAt: text(value.createdAt, `${path}.createdAt`, 64),
  };
  if (value.bucketStart !== undefined) {
    if (status !== 'staging') fail(`${path}.bucketStart`, 'only staged versions have one');
    const start = fraction(value.bucketStart, `${path}.bucketStart`);
    if (start + weight > 1 + WEIGHT_SLACK)
      fail(`${path}.bucketStart`, 'the bucket range ends beyond 1');
    parsed.bucketStart = start;
  }
  return parsed;
}

/**
 * The manifest, checked field by field, or the reason it is refused (`<path>: <why>`).
 * Unknown fields are dropped (protocol.ts: devices ignore them).
 */
export function checkManifest(value: unknown): Manifest | string {
  try {
    if (!isObject(value)) fail('manifest', 'must be a JSON object');
    if (value.protocol !== PROTOCOL_VERSION) fail('protocol', `must be ${PROTOCOL_VERSION}`);
    const revision = value.revision;
    if (typeof revision !== 'number' || !Number.isSafeInteger(revision) || revision < 0)
      fail('revision', 'must be a non-negative integer');
    const rollout = text(value.rollout, 'rollout');
    const issuedAt = instant(value.issuedAt, 'issuedAt');
    const expiresAt = instant(value.expiresAt, 'expiresAt');
    if (Date.parse(expiresAt) <= Date.parse(issuedAt))
      fail('expiresAt', `must be after issuedAt (${issuedAt})`);
    if (!Array.isArray(value.versions) || value.versions.length > MAX_VERSIONS)
      fail('versions', `must be an array of at most ${MAX_VERSIONS}`);
    const versions = value.versions.map((v, i) => version(v, `versions[${i}]`));
    const ids = new Set<string>();
    let production = 0;
    let staged = 0;
    for (const [i, v] of versions.entries()) {
      if (ids.has(v.id)) fail(`versions[${i}].id`, `${v.id} appears twice`);
      ids.add(v.id);
      if (v.status === 'production') production++;
      else staged += v.weight;
    }
    if (production > 1) fail('versions', 'more than one production version');
    if (staged > 1 + WEIGHT_SLACK) fail('versions', `staged weights sum to ${staged} (> 1)`);
    const manifest: Manifest = {
      protocol: PROTOCOL_VERSION,
      revision,
      rollout,
      issuedAt,
      expiresAt,
      versions,
    };
    // Federated rounds (protocol v1, additive): kept for the participant, which checks each one
    // (src/federated/participant.ts); a field that is not an array is ignored like any unknown one.
    const rounds = value[MANIFEST_ROUNDS_FIELD];
    return Array.isArray(rounds) ? ({ ...manifest, federated: rounds } as Manifest) : manifest;
  } catch (error) {
    if (error instanceof Malformed) return error.message;
    throw error;
  }
}

/**
 * The oldest manifest an app build takes (`rollout: { notBefore }`), so that a fresh install
 * (or one whose storage was cleared) cannot be handed a manifest older than the app itself: a
 * manifest revision (an integer: the revision current when the app was built), or an ISO 8601
 * UTC time the manifest's `issuedAt` must not precede.
 */
export type ManifestFloor = number | string;

/** The floor's problem, or undefined when it is one (for BAD_CONFIG at start-up). */
export function floorProblem(floor: unknown): string | undefined {
  if (typeof floor === 'number')
    return Number.isSafeInteger(floor) && floor >= 0
      ? undefined
      : 'notBefore must be a non-negative integer revision or an ISO 8601 UTC time';
  if (typeof floor === 'string' && INSTANT.test(floor) && !Number.isNaN(Date.parse(floor)))
    return undefined;
  return 'notBefore must be a non-negative integer revision or an ISO 8601 UTC time';
}

/** What a device remembers of the manifest it accepted last (ManifestState holds it). */
export interface HeldManifest {
  revision: number;
  /** Absent in state saved before manifests expired. */
  issuedAt?: string;
  expiresAt?: string;
}

/**
 * Whether a well-formed, verified manifest may replace what the device holds at time `now`
 * (ms): undefined when it may, else the refusal (`<code>: <detail>`). Refused: an expired one
 * (`expired_manifest`: a frozen or replayed copy, or a clock far ahead), one older than the
 * app's build allows (`below_floor`, see {@link ManifestFloor}), a lower revision
 * (`replayed_revision`), and one issued before the held one (`replayed_issued_at`: an older
 * signature of the same content).
 */
export function checkFreshness(
  manifest: Manifest,
  held: HeldManifest | undefined,
  now: number,
  floor?: ManifestFloor,
): string | undefined {
  if (Date.parse(manifest.expiresAt) <= now)
    return `expired_manifest: revision ${manifest.revision} expired at ${manifest.expiresAt}`;
  if (typeof floor === 'number' && manifest.revision < floor)
    return `below_floor: revision ${manifest.revision} < notBefore ${floor}`;
  if (typeof floor === 'string' && Date.parse(manifest.issuedAt) < Date.parse(floor))
    return `below_floor: issued ${manifest.issuedAt}, before notBefore ${floor}`;
  if (!held) return undefined;
  if (manifest.revision < held.revision)
    return `replayed_revision: ${manifest.revision} < ${held.revision}`;
  if (held.issuedAt !== undefined && Date.parse(manifest.issuedAt) < Date.parse(held.issuedAt))
    return `replayed_issued_at: issued ${manifest.issuedAt}, before the held ${held.issuedAt}`;
  return undefined;
}

/** Whether the held manifest has expired at `now` (ms): the device is running on stale orders. */
export function isStale(held: HeldManifest | undefined, now: number): boolean {
  return held?.expiresAt !== undefined && Date.parse(held.expiresAt) <= now;
}
