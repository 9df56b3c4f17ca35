// The browser side of the rollout lab (test/support/rollout_lab.ts): a fresh sync server per
// test behind a tampering proxy, and the server's admin API (server/routes/admin.ts) to upload,
// publish, ramp, promote and roll back versions the way an operator would.
import { inject } from 'vitest';
import type {
  AdminRound,
  AdminVersion,
  AuditEntry,
  FederatedStatus,
  OpenRoundRequest,
  PolicyEvaluation,
  StatusResponse,
  UploadResponse,
} from '../../../src/protocol/admin.ts';
import type { PublicKeyResponse } from '../../../src/protocol/index.ts';
import { sha256Hex } from '../../../src/sha256.ts';
import type {
  LabRequest,
  LabServerInfo,
  LabServerRequest,
  ManifestTampering,
  ModelTampering,
  Tampering,
} from '../../support/rollout_lab.ts';

export type { LabRequest, LabServerRequest, ManifestTampering, ModelTampering, Tampering };

export interface PublishOptions {
  /** Uploaded first (the sha256 is computed here). */
  bytes: Uint8Array;
  weight: number;
  semver?: string;
  /** Default: the spec in the model's metadata. */
  featureSpec?: Record<string, unknown>;
  /** The version's initial head (device JSON): what a federated round's deltas are from. */
  head?: Record<string, unknown>;
  why?: string;
}

export interface LabServer {
  /** Where the device connects (the proxy). */
  url: string;
  /** The server itself. */
  serverUrl: string;
  appKey: string;
  publicKey: PublicKeyResponse;
  /** Switches the proxy's tampering; returns the number of requests logged before it. */
  tamper(tampering: Tampering): Promise<number>;
  /** Requests the proxy saw after request number `since`. */
  log(since?: number): Promise<LabRequest[]>;
  /** Revisions of the manifests the proxy has passed on (and can replay). */
  captured(): Promise<number[]>;
  upload(bytes: Uint8Array): Promise<UploadResponse>;
  /** Uploads the bytes and publishes them as a staged version. */
  publish(options: PublishOptions): Promise<AdminVersion>;
  ramp(ref: string, weight: number): Promise<AdminVersion>;
  promote(ref: string): Promise<AdminVersion>;
  rollback(ref: string): Promise<AdminVersion>;
  status(): Promise<StatusResponse>;
  /** Federated rounds (server/federated/routes.ts), as an operator drives them. */
  openRound(request: OpenRoundRequest): Promise<AdminRound>;
  closeRound(id: string): Promise<AdminRound>;
  rounds(): Promise<FederatedStatus>;
  /** The audit log, newest first. */
  audit(limit?: number): Promise<AuditEntry[]>;
  /** Runs the rollout policy now, as `POST /v1/admin/policy/evaluate` (an admin asking). */
  evaluate(dryRun?: boolean): Promise<PolicyEvaluation>;
  /**
   * Resolves once the server's own policy evaluations (scheduled by metrics ingest, after a
   * debounce) are done: nothing scheduled or running.
   */
  settle(): Promise<void>;
  /**
   * Every install has been idle past the server's `inactiveInstallDays`, and the server
   * process was replaced by a new one (same database, same addresses): a device coming back
   * after months. Resolves with the number of installs expired.
   */
  expireInstalls(): Promise<number>;
  /** The metric windows the server's database holds, by install and window id. */
  storedWindows(): Promise<{ installId: string; windowId: string; dropped: number }[]>;
  /**
   * The operator's `rotate-key prepare` or `activate` on this server, then its process
   * replaced (same port). Resolves with what `GET /v1/public-key` now says.
   */
  rotate(step: 'prepare' | 'activate'): Promise<PublicKeyResponse>;
  /** A JWT from the app's backend (servers started with `registration: 'jwt'`). */
  token(subject: string, expiresInSeconds?: number): Promise<string>;
  /** The server's installs and the subject each registered as. */
  installs(): Promise<{ id: string; subject: string | null }[]>;
  close(): Promise<void>;
}

/** Whether the rollout lab runs (only under the `browser-sync` project's globalSetup). */
export const hasRolloutLab = inject('rolloutLab') !== undefined;

async function call<T>(url: string, init?: RequestInit): Promise<T> {
  const response = await fetch(url, init);
  const text = await response.text();
  if (!response.ok) throw new Error(`${init?.method ?? 'GET'} ${url}: ${response.status} ${text}`);
  return JSON.parse(text) as T;
}

export async function newLabServer(options: LabServerRequest = {}): Promise<LabServer> {
  const { controlUrl } = inject('rolloutLab');
  const json = (method: string, value: unknown): RequestInit => ({
    method,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(value),
  });
  const info = await call<LabServerInfo>(`${controlUrl}/servers`, json('POST', options));
  const lab = `${controlUrl}/servers/${info.id}`;
  const admin = <T>(method: string, path: string, body?: unknown, raw?: Uint8Array) => {
    const headers: Record<string, string> = { authorization: `Bearer ${info.adminToken}` };
    let payload: BodyInit | undefined;
    if (raw) {
      headers['content-type'] = 'application/octet-stream';
      payload = raw as Uint8Array<ArrayBuffer>;
    } else if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    return call<T>(`${info.serverUrl}${path}`, { method, headers, body: payload });
  };
  const versionPath = (ref: string, action: string) =>
    `/v1/admin/versions/${encodeURIComponent(ref)}/${action}`;
  const upload = async (bytes: Uint8Array) =>
    admin<UploadResponse>('PUT', `/v1/admin/models/${await sha256Hex(bytes)}`, undefined, bytes);
  return {
    url: info.url,
    serverUrl: info.serverUrl,
    appKey: info.appKey,
    publicKey: info.publicKey,
    async tamper(tampering) {
      return (await call<{ since: number }>(`${lab}/tamper`, json('POST', tampering))).since;
    },
    log: (since = 0) => call<LabRequest[]>(`${lab}/log?since=${since}`),
    captured: () => call<number[]>(`${lab}/captured`),
    upload,
    async publish({ bytes, weight, semver, featureSpec, head, why }) {
      const { sha256 } = await upload(bytes);
      return admin<AdminVersion>('POST', '/v1/admin/versions', {
        model: { sha256 },
        weight,
        ...(semver ? { semver } : {}),
        ...(featureSpec ? { featureSpec } : {}),
        ...(head ? { head } : {}),
        ...(why ? { why } : {}),
      });
    },
    ramp: (ref, weight) => admin<AdminVersion>('POST', versionPath(ref, 'ramp'), { weight }),
    promote: (ref) => admin<AdminVersion>('POST', versionPath(ref, 'promote'), {}),
    rollback: (ref) => admin<AdminVersion>('POST', versionPath(ref, 'rollback'), {}),
    status: () => admin<StatusResponse>('GET', '/v1/admin/status'),
    openRound: (request) => admin<AdminRound>('POST', '/v1/admin/federated/rounds', request),
    closeRound: (id) =>
      admin<AdminRound>('POST', `/v1/admin/federated/rounds/${encodeURIComponent(id)}/close`, {}),
    rounds: () => admin<FederatedStatus>('GET', '/v1/admin/federated/rounds'),
    async audit(limit = 50) {
      return (await admin<{ entries: AuditEntry[] }>('GET', `/v1/admin/audit?limit=${limit}`))
        .entries;
    },
    evaluate: (dryRun = false) =>
      admin<PolicyEvaluation>('POST', '/v1/admin/policy/evaluate', { dryRun }),
    async settle() {
      await call(`${lab}/settle`, { method: 'POST' });
    },
    async expireInstalls() {
      return (await call<{ expired: number }>(`${lab}/expire`, { method: 'POST' })).expired;
    },
    storedWindows: () => call(`${lab}/stored`),
    async rotate(step) {
      return (await call<{ publicKey: PublicKeyResponse }>(`${lab}/rotate`, json('POST', { step })))
        .publicKey;
    },
    async token(subject, expiresInSeconds) {
      return (
        await call<{ token: string }>(
          `${lab}/token`,
          json('POST', {
            subject,
            ...(expiresInSeconds !== undefined ? { expiresInSeconds } : {}),
          }),
        )
      ).token;
    },
    installs: () => call(`${lab}/installs`),
    async close() {
      await call(lab, { method: 'DELETE' });
    },
  };
}
