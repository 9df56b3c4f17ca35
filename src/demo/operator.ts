/**
 * The operator panel's side of the admin API (`/v1/admin/*`, see server/routes/admin.ts):
 * upload and stage the demo's second version, ramp, promote, roll back, and read the fleet's
 * status. Only the launcher gives the page an admin token, and only on 127.0.0.1.
 */
import type { AdminVersion, StatusResponse } from '../protocol/admin.ts';
import type { DemoConfig } from './config.ts';
import { syncUrl } from './config.ts';

export class AdminError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
    this.name = 'AdminError';
  }
}

export class Operator {
  private readonly config: DemoConfig;
  constructor(config: DemoConfig) {
    this.config = config;
  }

  private async call<T>(method: string, path: string, body?: BodyInit, type?: string): Promise<T> {
    const response = await fetch(`${syncUrl(this.config)}/v1/admin${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.config.adminToken}`,
        'localfit-actor': 'demo operator panel',
        ...(type ? { 'content-type': type } : {}),
      },
      body,
    });
    if (!response.ok) {
      const reply = (await response.json().catch(() => undefined)) as
        | { error?: { message?: string } }
        | undefined;
      throw new AdminError(
        response.status,
        `${method} /v1/admin${path}: ${reply?.error?.message ?? `HTTP ${response.status}`}`,
      );
    }
    return (await response.json()) as T;
  }

  versions(): Promise<{ versions: AdminVersion[] }> {
    return this.call('GET', '/versions');
  }

  status(): Promise<StatusResponse> {
    return this.call('GET', '/status');
  }

  /** Uploads the variant's bytes (idempotent) and publishes it as staged with `weight`. */
  async stageVariant(weight: number): Promise<AdminVersion> {
    const { variant } = this.config;
    const [bytes, head] = await Promise.all([
      fetch(variant.model).then((r) => r.arrayBuffer()),
      fetch(variant.head).then((r) => r.json() as Promise<Record<string, unknown>>),
    ]);
    await this.call('PUT', `/models/${variant.sha256}`, bytes, 'application/octet-stream');
    return this.call(
      'POST',
      '/versions',
      JSON.stringify({
        model: { sha256: variant.sha256 },
        head,
        weight,
        why: `staged from the demo's operator panel: ${variant.trainedOn}`,
      }),
      'application/json',
    );
  }

  ramp(id: string, weight: number): Promise<AdminVersion> {
    return this.call(
      'POST',
      `/versions/${encodeURIComponent(id)}/ramp`,
      JSON.stringify({ weight }),
      'application/json',
    );
  }

  promote(id: string): Promise<AdminVersion> {
    return this.call('POST', `/versions/${encodeURIComponent(id)}/promote`);
  }

  rollback(id: string): Promise<AdminVersion> {
    return this.call('POST', `/versions/${encodeURIComponent(id)}/rollback`);
  }
}
