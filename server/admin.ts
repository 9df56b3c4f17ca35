/**
 * Admin operations on a database, with their input checks: what the admin routes serve and
 * what the CLI runs when it talks to the database directly. One implementation for both, so
 * a version published either way went through exactly the same checks.
 */
import { validateFeatureSpec } from '../src/backbone/feature_spec.ts';
import { readFeatureSpec } from '../src/backbone/model_metadata.ts';
import { LearnerError } from '../src/errors.ts';
import type {
  AdminIntent,
  AdminVersion,
  AutopilotRequest,
  PublishRequest,
  RampRequest,
  StatusResponse,
  TransitionRequest,
  UploadResponse,
} from '../src/protocol/admin.ts';
import type { Database, Queryable } from './db/database.ts';
import { ApiError } from './http/errors.ts';
import { readVerdicts } from './rollout/autopilot.ts';
import { readRejections } from './rollout/epochs.ts';
import { type ResolvedPolicy, resolvePolicy } from './rollout/policy.ts';
import { versionId } from './schemas.ts';
import { versionAggregates } from './store/aggregates.ts';
import { listAudit, recordAudit } from './store/audit.ts';
import {
  ModelTooLargeError,
  modelBytes,
  putModel,
  SHA256_PATTERN,
  type StoredModel,
  storeModel,
} from './store/models.ts';
import {
  isSemver,
  listVersions,
  promoteVersion,
  publishVersion,
  rampVersion,
  rollbackVersion,
  setAutopilot,
} from './store/versions.ts';
import {
  boolean,
  type Check,
  invalid,
  jsonObject,
  nullable,
  number,
  object,
  optional,
  refine,
  string,
} from './validate.ts';

const intentShape = {
  actor: optional(string({ min: 1, max: 100 })),
  why: optional(string({ max: 1000, controls: 'whitespace' })),
};

const weight = number({ min: 0, max: 1 });

const sha256 = string({ max: 64, pattern: SHA256_PATTERN, patternName: 'a lowercase hex sha256' });

export const publishRequest: Check<PublishRequest> = object<PublishRequest>(
  {
    ...intentShape,
    model: object<PublishRequest['model']>({ sha256 }, { strict: true }),
    semver: optional(
      refine(string({ max: 100 }), (value, path) => {
        if (!isSemver(value)) invalid(path, 'must be a semantic version like 1.2.0');
      }),
    ),
    featureSpec: optional(jsonObject({ maxDepth: 16, maxBytes: 256 * 1024 })),
    head: optional(nullable(jsonObject({ maxDepth: 16, maxBytes: 4 * 1024 * 1024 }))),
    weight,
  },
  { strict: true },
);

export const rampRequest: Check<RampRequest> = object<RampRequest>(
  { ...intentShape, weight },
  { strict: true },
);

export const autopilotRequest: Check<AutopilotRequest> = object<AutopilotRequest>(
  { ...intentShape, enabled: boolean() },
  { strict: true },
);

export const transitionRequest: Check<TransitionRequest> = object<TransitionRequest>(intentShape, {
  strict: true,
});

function actorOf(intent: AdminIntent): string {
  return intent.actor ?? 'admin';
}

/** A version reference (id or semver) from a path or the command line. */
export function versionRef(ref: string): string {
  try {
    return versionId(ref, 'version');
  } catch {
    throw new ApiError(404, 'NOT_FOUND', 'no such version');
  }
}

function checkFeatureSpec(spec: unknown, source: string): Record<string, unknown> {
  try {
    return validateFeatureSpec(spec) as unknown as Record<string, unknown>;
  } catch (error) {
    if (error instanceof LearnerError)
      throw new ApiError(422, 'INVALID_FEATURE_SPEC', `${source}: ${error.message}`, {
        path: 'featureSpec',
      });
    throw error;
  }
}

/**
 * Stores an upload, hashing it while it is written chunk by chunk (server/store/models.ts):
 * bytes that do not hash to `expectedSha256` are refused (422) and never become a model.
 */
export async function uploadModel(
  db: Database,
  source: Uint8Array | AsyncIterable<Uint8Array>,
  expectedSha256: string,
  actor: string,
  options: { limit?: number; chunkSize?: number } = {},
): Promise<UploadResponse> {
  if (!SHA256_PATTERN.test(expectedSha256))
    throw new ApiError(400, 'BAD_REQUEST', 'name the upload by its lowercase hex sha256');
  if (source instanceof Uint8Array && source.length === 0)
    throw new ApiError(400, 'BAD_REQUEST', 'the body is empty');
  const accept = async (tx: Queryable, stored: StoredModel) => {
    if (stored.bytes === 0) throw new ApiError(400, 'BAD_REQUEST', 'the body is empty');
    if (stored.sha256 !== expectedSha256)
      throw new ApiError(
        422,
        'SHA256_MISMATCH',
        `the bytes hash to ${stored.sha256}, not ${expectedSha256}`,
      );
    if (stored.created)
      await recordAudit(tx, {
        actor,
        action: 'upload',
        details: { sha256: stored.sha256, bytes: stored.bytes },
      });
  };
  try {
    return source instanceof Uint8Array
      ? await putModel(db, source, accept, options.chunkSize)
      : await storeModel(db, source, {
          limit: options.limit ?? Number.MAX_SAFE_INTEGER,
          accept,
          ...(options.chunkSize !== undefined ? { chunkSize: options.chunkSize } : {}),
        });
  } catch (error) {
    if (error instanceof ModelTooLargeError)
      throw new ApiError(413, 'BODY_TOO_LARGE', error.message);
    throw error;
  }
}

/** Publishes as staged. Without a featureSpec, the one in the model's metadata is used. */
export async function publish(db: Database, body: unknown): Promise<AdminVersion> {
  const request = publishRequest(body, '');
  let featureSpec: Record<string, unknown>;
  if (request.featureSpec !== undefined)
    featureSpec = checkFeatureSpec(request.featureSpec, 'featureSpec');
  else {
    const bytes = await modelBytes(db, request.model.sha256);
    if (!bytes)
      throw new ApiError(422, 'UNKNOWN_MODEL', `no model ${request.model.sha256}: upload it first`);
    try {
      featureSpec = readFeatureSpec(bytes) as unknown as Record<string, unknown>;
    } catch (error) {
      if (error instanceof LearnerError)
        throw new ApiError(
          422,
          'INVALID_FEATURE_SPEC',
          `no featureSpec given, and none usable in the model: ${error.message}`,
          { path: 'featureSpec' },
        );
      throw error;
    }
  }
  return publishVersion(db, { ...request, featureSpec, actor: actorOf(request) });
}

export async function ramp(db: Database, ref: string, body: unknown): Promise<AdminVersion> {
  const request = rampRequest(body, '');
  return rampVersion(db, versionRef(ref), request.weight, {
    actor: actorOf(request),
    why: request.why,
  });
}

export async function promote(db: Database, ref: string, body: unknown): Promise<AdminVersion> {
  const request = transitionRequest(body, '');
  return promoteVersion(db, versionRef(ref), { actor: actorOf(request), why: request.why });
}

export async function rollback(db: Database, ref: string, body: unknown): Promise<AdminVersion> {
  const request = transitionRequest(body, '');
  return rollbackVersion(db, versionRef(ref), { actor: actorOf(request), why: request.why });
}

/** Turns the rollout policy's autopilot on or off for one version. */
export async function autopilot(db: Database, ref: string, body: unknown): Promise<AdminVersion> {
  const request = autopilotRequest(body, '');
  return setAutopilot(db, versionRef(ref), request.enabled, {
    actor: actorOf(request),
    why: request.why,
  });
}

export async function getVersion(db: Database, ref: string): Promise<AdminVersion> {
  const key = versionRef(ref);
  const version = (await listVersions(db)).find((v) => v.id === key || v.semver === key);
  if (!version) throw new ApiError(404, 'NOT_FOUND', `no version ${key}`);
  return version;
}

/**
 * Versions with fleet metrics and, for staged ones, the rollout policy's verdict (read only:
 * `policy` is the running server's; the CLI's direct mode shows the defaults' verdict).
 */
export async function status(
  db: Database,
  auditEntries = 20,
  policy: ResolvedPolicy = resolvePolicy(),
): Promise<StatusResponse> {
  const versions = await listVersions(db);
  const aggregates = await versionAggregates(db);
  const verdicts = new Map((await readVerdicts(db, policy)).map((v) => [v.versionId, v]));
  const rejected = await readRejections(db);
  const known = new Set(versions.map((v) => v.id));
  return {
    versions: [
      ...versions.map((version) => {
        const verdict = verdicts.get(version.id);
        return {
          version,
          versionId: version.id,
          metrics: aggregates.get(version.id) ?? null,
          ...(verdict ? { policy: verdict } : {}),
          rejected: rejected.get(version.id) ?? [],
        };
      }),
      // Metrics naming versions this server never published (e.g. a model built into an app).
      ...[...aggregates.values()]
        .filter((a) => !known.has(a.versionId))
        .map((metrics) => ({
          version: null,
          versionId: metrics.versionId,
          metrics,
          rejected: rejected.get(metrics.versionId) ?? [],
        })),
    ],
    audit: await listAudit(db, auditEntries),
  };
}
