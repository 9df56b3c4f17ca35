/**
 * Test helpers that talk to a real server over HTTP on 127.0.0.1: typed calls, an SSE reader
 * that waits on events (never on time), metric windows, and a dump of every table to prove
 * that refused requests changed nothing.
 */
import { createHash } from 'node:crypto';
import type { Database } from '../../../../server/db/database.ts';
import { generateSigningKey } from '../../../../server/signing.ts';
import type { RunningServer } from '../../../../server/start.ts';
import type { MetricWindow, RegisterResponse } from '../../../../src/protocol/index.ts';
import { AUC_SKETCH_BINS } from '../../../../src/protocol/index.ts';

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';
export const APP_KEY = 'test-app-key-0123456789';
/** Servers sharing a database must sign with its one key (server/key_store.ts). */
export const SIGNING_KEY = generateSigningKey();

/** Where requests go: a server started in this process, or a replica in another one. */
export type Target = Pick<RunningServer, 'url'>;

export interface Reply<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export async function call<T = unknown>(
  server: Target,
  method: string,
  path: string,
  options: {
    body?: unknown;
    raw?: BodyInit;
    token?: string;
    headers?: Record<string, string>;
  } = {},
): Promise<Reply<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: BodyInit | undefined = options.raw;
  if (options.body !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = JSON.stringify(options.body);
  }
  const response = await fetch(`${server.url}${path}`, { method, headers, body });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON (model bytes, event streams)
  }
  return { status: response.status, headers: response.headers, body: parsed as T, text };
}

export const admin = <T = unknown>(server: Target, method: string, path: string, body?: unknown) =>
  call<T>(server, method, `/v1/admin${path}`, { body, token: ADMIN_TOKEN });

export async function register(server: Target): Promise<RegisterResponse> {
  const reply = await call<RegisterResponse>(server, 'POST', '/v1/register', {
    body: { appKey: APP_KEY, client: { platform: 'test' } },
  });
  if (reply.status !== 201) throw new Error(`register: ${reply.status} ${reply.text}`);
  return reply.body;
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export const FEATURE_SPEC = {
  inputs: [{ name: 'item', size: 4 }],
  output: { name: 'embedding', size: 3 },
  task: 'binary',
};

/** Uploads bytes and publishes them as staged; returns the version id. */
export async function publishBytes(
  server: Target,
  bytes: Uint8Array,
  weight: number,
  extra: Record<string, unknown> = {},
): Promise<string> {
  const up = await call(server, 'PUT', `/v1/admin/models/${sha256(bytes)}`, {
    raw: bytes as Uint8Array<ArrayBuffer>,
    token: ADMIN_TOKEN,
    headers: { 'content-type': 'application/octet-stream' },
  });
  if (up.status !== 201 && up.status !== 200) throw new Error(`upload: ${up.status} ${up.text}`);
  const reply = await admin<{ id: string }>(server, 'POST', '/versions', {
    model: { sha256: sha256(bytes) },
    featureSpec: FEATURE_SPEC,
    weight,
    ...extra,
  });
  if (reply.status !== 201) throw new Error(`publish: ${reply.status} ${reply.text}`);
  return reply.body.id;
}

let modelCounter = 0;
/** Distinct fake model bytes (the server does not run models; devices check them). */
export function fakeModel(size = 1000): Uint8Array {
  const bytes = new Uint8Array(size);
  const seed = ++modelCounter * 7919 + process.pid;
  for (let i = 0; i < size; i++) bytes[i] = (seed * (i + 1) * 2654435761) >>> 24;
  bytes[0] = modelCounter & 0xff;
  bytes[1] = (modelCounter >> 8) & 0xff;
  return bytes;
}

/** A full binary-task window with every section filled in. */
export function makeWindow(windowId: string, versionId: string, seed = 1): MetricWindow {
  const count = 50 + (seed % 50);
  const positive = new Array(AUC_SKETCH_BINS).fill(0);
  const negative = new Array(AUC_SKETCH_BINS).fill(0);
  const positives = Math.floor(count / 3);
  positive[70 + (seed % 20)] = positives;
  negative[20 + (seed % 40)] = count - positives;
  return {
    windowId,
    versionId,
    task: 'binary',
    start: 1_700_000_000_000 + seed * 60_000,
    end: 1_700_000_000_000 + seed * 60_000 + 59_999,
    count,
    loglossSum: count * 0.4,
    correct: Math.floor(count * 0.8),
    positives,
    auc: { positive, negative },
    ctr: { impressions: count, clicks: positives, conversions: Math.floor(positives / 2) },
    ranking: { k: 5, slates: 4, precisionSum: 1.2, recallSum: 2, ndcgSum: 2.5 },
    drift: {
      prediction: { count, sum: count * 0.35, sumSq: count * 0.2 },
      features: [{ name: 'item', count, sum: 3, sumSq: 40 }],
      alerts: seed % 2,
      byDetector: { adwin: seed % 2 },
    },
    dropped: 0,
    paired: { baselineVersionId: 'v0', n: count, diffSum: -0.01 * count, diffSumSq: 0.001 * count },
  };
}

export interface SseEvent {
  event: string;
  data: unknown;
}

/**
 * Reads a server-sent event stream. `next(name)` resolves with the next event of that name
 * (earlier ones of other names are skipped), so tests wait on what the server says.
 */
export async function openEvents(server: Target) {
  const controller = new AbortController();
  const response = await fetch(`${server.url}/v1/events`, { signal: controller.signal });
  if (!response.body) throw new Error('no event stream');
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const queue: SseEvent[] = [];
  let buffer = '';
  const pull = async (): Promise<void> => {
    const { done, value } = await reader.read();
    if (done) throw new Error('event stream ended');
    buffer += value;
    let end = buffer.indexOf('\n\n');
    while (end !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data.push(line.slice(6));
      }
      if (data.length > 0) queue.push({ event, data: JSON.parse(data.join('\n')) });
      end = buffer.indexOf('\n\n');
    }
  };
  return {
    response,
    async next(name: string): Promise<SseEvent> {
      for (;;) {
        const index = queue.findIndex((e) => e.event === name);
        if (index !== -1) return queue.splice(0, index + 1).pop()!;
        await pull();
      }
    },
    close() {
      controller.abort();
      reader.cancel().catch(() => {});
    },
  };
}

const TABLES = [
  'server_settings',
  'installs',
  'models',
  'versions',
  'manifest_state',
  'audit_log',
  'metric_batches',
  'metric_windows',
  'metric_window_ids',
  'version_install_totals',
  'paired_hourly',
  'paired_totals',
  'version_event_totals',
  'schema_migrations',
];

/** Every row of every table, as comparable JSON (model bytes by hash). */
export async function dumpTables(db: Database): Promise<string> {
  const out: Record<string, unknown[]> = {};
  for (const table of TABLES) {
    const { rows } = await db.query<Record<string, unknown>>(
      `select * from ${table} order by 1, 2`,
    );
    out[table] = rows.map((row) =>
      Object.fromEntries(
        Object.entries(row).map(([k, v]) => [
          k,
          v instanceof Uint8Array ? sha256(v) : v instanceof Date ? v.toISOString() : v,
        ]),
      ),
    );
  }
  return JSON.stringify(out);
}
