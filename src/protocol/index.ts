/**
 * The sync protocol, version 1: the JSON that travels between a device and a sync server
 * (design.md, "The sync protocol (v1)"). The reference server in `server/` and the device's
 * reporter and manifest client both import these types through this entry point. The folder has
 * no runtime code beyond a few constants and the canonical JSON encoding that signed and hashed
 * bodies use (`./canonical_json.ts`), and imports only types that the computing modules own
 * (`Moments` from `src/metrics/feature_moments.ts`, `DriftAlarms` from
 * `src/drift/policy_options.ts`): data flows from the computation to the wire,
 * never back. What a field *means* when computed (how an AUC sketch is binned and read) lives
 * with the computation, in `src/metrics/auc_sketch.ts`, which both sides import.
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
 * | `POST /v1/federated/contributions` | `Authorization: Bearer <device token>` | {@link ContributionRequest} | 201 {@link ContributionResponse} (federated.ts) |
 *
 * Every error is JSON: {@link ErrorBody} with a stable {@link SyncErrorCode}.
 *
 * The admin API's JSON (`/v1/admin/*`, for operators and the CLI, never devices) is in
 * `./admin.ts`, imported by path.
 */

export * from './errors.ts';
export * from './federated.ts';
export * from './manifest.ts';
export * from './metrics.ts';
