/**
 * How the CLI's admin commands reach the server's state. Two ways, same operations:
 *
 * - over HTTP, to a running server (`--server URL`, `LOCALFIT_SERVER`, or the server.json a
 *   server writes into its data directory), with the admin token (`LOCALFIT_ADMIN_TOKEN` or
 *   the data directory's admin-token file). Open apps hear of the change at once (SSE).
 * - directly on the database (`DATABASE_URL`, or the PGlite files in the data directory when
 *   no server holds them). Running servers on the same database hear of the change from the
 *   database itself when it commits (a trigger's NOTIFY, server/events.ts) and push it to
 *   open apps at once. No token is needed: whoever can open the database is the admin.
 */
import { readFile } from 'node:fs/promises';
import type {
  AdminRound,
  AdminVersion,
  AutopilotRequest,
  CloseRoundRequest,
  FederatedStatus,
  OpenRoundRequest,
  PolicyEvaluation,
  PrivacyBudget,
  PublishRequest,
  RampRequest,
  StatusResponse,
  TransitionRequest,
  UploadResponse,
} from '../../src/protocol/admin.ts';
import type { ErrorBody } from '../../src/protocol/index.ts';
import { CodedError } from '../../src/protocol/index.ts';
import * as admin from '../admin.ts';
import {
  type DataDir,
  dataDirPaths,
  lockDataDir,
  readAdminTokenFile,
  readServerInfo,
} from '../data_dir.ts';
import type { Database } from '../db/database.ts';
import { openDatabase } from '../db/open.ts';
import {
  closeRound,
  type FederatedConfig,
  federatedStatus,
  openRound,
  resolveFederated,
} from '../federated/rounds.ts';
import { closeRoundRequest, openRoundRequest } from '../federated/schemas.ts';
import { ApiError } from '../http/errors.ts';
import { Autopilot } from '../rollout/autopilot.ts';
import { resolvePolicy } from '../rollout/policy.ts';
import type { JobsResponse } from '../scheduler/routes.ts';
import { listJobs, listSchedules } from '../store/jobs.ts';
import { sha256Hex } from '../tokens.ts';

export interface AdminClient {
  /** Where the commands go, for the user. */
  readonly target: string;
  upload(bytes: Uint8Array, actor: string): Promise<UploadResponse>;
  publish(request: PublishRequest): Promise<AdminVersion>;
  ramp(ref: string, request: RampRequest): Promise<AdminVersion>;
  promote(ref: string, request: TransitionRequest): Promise<AdminVersion>;
  rollback(ref: string, request: TransitionRequest): Promise<AdminVersion>;
  status(): Promise<StatusResponse>;
  /** Retraining schedules and the most recent jobs (newest first). */
  jobs(options: { limit: number; model?: string }): Promise<JobsResponse>;
  autopilot(ref: string, request: AutopilotRequest): Promise<AdminVersion>;
  /** Runs the rollout policy now (applies its verdicts unless dryRun). */
  evaluate(dryRun: boolean): Promise<PolicyEvaluation>;
  /** Federated rounds (server/federated/): open one, read them all, end one. */
  federatedOpen(request: OpenRoundRequest): Promise<AdminRound>;
  federatedStatus(): Promise<FederatedStatus>;
  federatedClose(id: string, request: CloseRoundRequest): Promise<AdminRound>;
  close(): Promise<void>;
}

/** A refusal from the server or the database, with its stable code. */
export class AdminError extends CodedError {
  override readonly name = 'AdminError';
}

export function httpAdmin(baseUrl: string, token: string): AdminClient {
  const base = baseUrl.replace(/\/+$/, '');
  const call = async <T>(
    method: string,
    path: string,
    body?: unknown,
    raw?: Uint8Array,
    actor?: string,
  ) => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    let payload: BodyInit | undefined;
    if (raw) {
      headers['content-type'] = 'application/octet-stream';
      if (actor) headers['localfit-actor'] = actor;
      payload = raw as Uint8Array<ArrayBuffer>;
    } else if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    let response: Response;
    try {
      response = await fetch(`${base}${path}`, { method, headers, body: payload });
    } catch (error) {
      throw new AdminError('UNREACHABLE', `cannot reach ${base}: ${(error as Error).message}`);
    }
    const text = await response.text();
    if (!response.ok) {
      let error: ErrorBody['error'] | undefined;
      try {
        error = (JSON.parse(text) as ErrorBody).error;
      } catch {
        // not our JSON
      }
      throw new AdminError(error?.code ?? `HTTP_${response.status}`, error?.message ?? text);
    }
    return JSON.parse(text) as T;
  };
  const path = (ref: string, action: string) =>
    `/v1/admin/versions/${encodeURIComponent(ref)}/${action}`;
  return {
    target: base,
    upload: (bytes, actor) =>
      call('PUT', `/v1/admin/models/${sha256Hex(bytes)}`, undefined, bytes, actor),
    publish: (request) => call('POST', '/v1/admin/versions', request),
    ramp: (ref, request) => call('POST', path(ref, 'ramp'), request),
    promote: (ref, request) => call('POST', path(ref, 'promote'), request),
    rollback: (ref, request) => call('POST', path(ref, 'rollback'), request),
    status: () => call('GET', '/v1/admin/status'),
    jobs: ({ limit, model }) =>
      call(
        'GET',
        `/v1/admin/jobs?limit=${limit}${model ? `&model=${encodeURIComponent(model)}` : ''}`,
      ),
    autopilot: (ref, request) => call('POST', path(ref, 'autopilot'), request),
    evaluate: (dryRun) => call('POST', '/v1/admin/policy/evaluate', { dryRun }),
    federatedOpen: (request) => call('POST', '/v1/admin/federated/rounds', request),
    federatedStatus: () => call('GET', '/v1/admin/federated/rounds'),
    federatedClose: (id, request) =>
      call('POST', `/v1/admin/federated/rounds/${encodeURIComponent(id)}/close`, request),
    close: async () => {},
  };
}

/**
 * `federated` holds the privacy budget rounds are charged against: with no server, the CLI's
 * (LOCALFIT_DP_EPSILON / LOCALFIT_DP_DELTA, else the defaults), which should be the servers'.
 */
export function directAdmin(
  db: Database,
  target: string,
  release: () => void = () => {},
  federated: FederatedConfig = resolveFederated(),
): AdminClient {
  const wrap = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      if (error instanceof ApiError) throw new AdminError(error.code, error.message);
      throw error;
    }
  };
  return {
    target,
    upload: (bytes, actor) => wrap(() => admin.uploadModel(db, bytes, sha256Hex(bytes), actor)),
    publish: (request) => wrap(() => admin.publish(db, request)),
    ramp: (ref, request) => wrap(() => admin.ramp(db, ref, request)),
    promote: (ref, request) => wrap(() => admin.promote(db, ref, request)),
    rollback: (ref, request) => wrap(() => admin.rollback(db, ref, request)),
    status: () => wrap(() => admin.status(db)),
    jobs: (options) =>
      wrap(async () => ({ schedules: await listSchedules(db), jobs: await listJobs(db, options) })),
    autopilot: (ref, request) => wrap(() => admin.autopilot(db, ref, request)),
    // No server, so no server options: the policy's defaults, applied once.
    evaluate: (dryRun) =>
      wrap(() =>
        new Autopilot(db, resolvePolicy(), {
          onChange: async () => {},
          logError: () => {},
        }).evaluate(dryRun),
      ),
    federatedOpen: (request) =>
      wrap(async () =>
        openRound(db, federated, openRoundRequest(request, ''), request.actor ?? 'admin'),
      ),
    federatedStatus: () => wrap(() => federatedStatus(db, federated)),
    federatedClose: (id, request) =>
      wrap(() =>
        closeRound(db, federated, id, closeRoundRequest(request, ''), request.actor ?? 'admin'),
      ),
    close: async () => {
      await db.close();
      release();
    },
  };
}

export interface ConnectOptions {
  dataDir: string;
  /** Explicit server URL (`--server` or LOCALFIT_SERVER). */
  server?: string;
  adminToken?: string;
  databaseUrl?: string;
  /** The privacy budget for rounds acted on directly on the database. */
  budget?: Partial<PrivacyBudget>;
}

async function adminTokenFor(paths: DataDir, configured?: string): Promise<string> {
  const token = configured ?? (await readAdminTokenFile(paths));
  if (!token)
    throw new AdminError(
      'NO_ADMIN_TOKEN',
      `no admin token: set LOCALFIT_ADMIN_TOKEN (or keep ${paths.adminToken})`,
    );
  return token;
}

function federatedFor(options: ConnectOptions): FederatedConfig {
  return resolveFederated(options.budget ? { budget: options.budget } : {});
}

export async function connectAdmin(options: ConnectOptions): Promise<AdminClient> {
  const paths = dataDirPaths(options.dataDir);
  if (options.server)
    return httpAdmin(options.server, await adminTokenFor(paths, options.adminToken));
  const running = await readServerInfo(paths);
  if (running) return httpAdmin(running.url, await adminTokenFor(paths, options.adminToken));
  if (options.databaseUrl) {
    const db = await openDatabase({ databaseUrl: options.databaseUrl });
    return directAdmin(db, 'PostgreSQL (DATABASE_URL)', () => {}, federatedFor(options));
  }
  try {
    await readFile(`${paths.pglite}/PG_VERSION`);
  } catch {
    throw new AdminError(
      'NO_SERVER',
      `no running server and no database in ${paths.root}: start one with \`npm run server -- serve\`, or pass --server URL / --data DIR`,
    );
  }
  const release = lockDataDir(paths);
  try {
    const db = await openDatabase({ pgliteDir: paths.pglite });
    return directAdmin(db, `PGlite in ${paths.pglite}`, release, federatedFor(options));
  } catch (error) {
    release();
    throw error;
  }
}
