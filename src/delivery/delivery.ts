/**
 * Delivery: moves queued metric batches from the outbox to the server, at least once, so that
 * with the server's idempotency the server stores each window exactly once.
 *
 * - Each queued batch keeps its idempotency key and its body for good; a retry sends the very
 *   same bytes under the very same key. Several due batches may travel in one request, under a
 *   key derived from their keys, so the same set always gets the same key and body; a different
 *   set gets another key, and the server's per-window dedupe stores windows sent twice once.
 * - A batch is removed only when the server acknowledged it (2xx), or refused it for good
 *   (4xx: counted, with the reason). If a combined request is refused, its batches are sent one
 *   by one, so one bad window cannot take good ones down with it.
 * - Records are routed by kind: metric batches to `/v1/metrics`, federated contributions
 *   (`contribution:<roundId>`, src/federated/participant.ts) one per request to
 *   `/v1/federated/contributions` (contributions.ts). Nothing else is ever sent.
 * - Retryable failures (no connection, timeout, 5xx, 429) reschedule the batches with
 *   exponential backoff and full jitter (backoff.ts), never sooner than the server's
 *   Retry-After; until then nothing is sent to that server at all. The schedule is stored with
 *   the batches, so a reload keeps backing off.
 */

import type { MetricsBatch, MetricsResponse, MetricWindow } from '../protocol/index.ts';
import { retryDelay } from './backoff.ts';
import type { ContributionSettled } from './contributions.ts';
import { CONTRIBUTION_COUNTERS, isContribution, postContribution } from './contributions.ts';
import type { Credentials, Registration } from './credentials.ts';
import type { Reply, RetryReason } from './http.ts';
import { postJson } from './http.ts';
import type { ResolvedSyncOptions } from './options.ts';

/** A queued batch as the outbox holds it. */
export interface QueuedBatch {
  key: string;
  body: unknown;
  attempts: number;
}

/** The part of the store's outbox delivery needs (src/store/outbox.ts). */
export interface OutboxPort {
  due(limit: number, now: number): Promise<QueuedBatch[]>;
  /**
   * Removes a batch and adds `counters` to the durable counters in the same transaction, so
   * that a window is always either queued or counted (delivered, rejected, dropped): the
   * reporter's check for lost windows (src/reporting/reporter.ts, `lostWindows`) relies on it.
   */
  ack(key: string, counters?: Record<string, number>): Promise<boolean>;
  fail(key: string, nextAttemptAt: number): Promise<unknown>;
}

export const DELIVERY_COUNTERS = {
  /** Windows the server acknowledged. */
  delivered: 'syncWindowsDelivered',
  /** Windows the server refused as invalid: not retried, dropped. */
  rejected: 'syncWindowsRejected',
} as const;

export interface DeliveryError {
  at: number;
  /**
   * What went wrong: a retry reason (network, timeout, server, rate-limited, bad-reply),
   * 'rejected' (a batch refused for good), or 'register' (registration refused: the app key).
   */
  kind: RetryReason | 'rejected' | 'register';
  status?: number;
  code?: string;
  message: string;
}

export interface DeliveryStatus {
  /** 'sending' during a request; 'waiting' while backing off; 'idle' otherwise. */
  state: 'idle' | 'sending' | 'waiting';
  /** No request before this time (epoch ms): backoff or the server's Retry-After. */
  notBefore: number;
  /** Failed attempts in a row (0 after a success). */
  consecutiveFailures: number;
  /** Requests sent since start, and of those, failed ones (retryable). */
  requests: number;
  failures: number;
  lastDeliveredAt?: number;
  lastError?: DeliveryError;
  /** The last batch refused for good, and why. */
  lastRejection?: DeliveryError & { windows: number };
}

interface Deps {
  outbox: OutboxPort;
  registration: Registration;
  options: ResolvedSyncOptions;
  /**
   * The server refused the token of an install it used to accept (it expired the install, or
   * lost it) and the device registered again: `previous` → `current`.
   */
  onReregistered?: (previous: Credentials, current: Credentials) => void;
  /** A contribution was acknowledged (no code) or refused for good (the server's code). */
  onContribution?: ContributionSettled;
  now: () => number;
  random?: () => number;
  fetch?: typeof fetch;
}

export class Delivery {
  private running: Promise<void> | undefined;
  private again = false;
  private readonly stopper = new AbortController();
  /** Credentials the server stopped accepting, until a new registration replaces them. */
  private refused: Credentials | undefined;
  private readonly state: DeliveryStatus = {
    state: 'idle',
    notBefore: 0,
    consecutiveFailures: 0,
    requests: 0,
    failures: 0,
  };

  private readonly deps: Deps;
  constructor(deps: Deps) {
    this.deps = deps;
  }

  get status(): DeliveryStatus {
    const copy = structuredClone(this.state);
    if (copy.state === 'idle' && copy.notBefore > this.deps.now()) copy.state = 'waiting';
    return copy;
  }

  /**
   * Sends everything due, request after request, until nothing is due, a failure schedules a
   * retry, or `stop()`. Calls while a run is going on make it look again before it ends.
   */
  run(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.pass();
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.running = undefined;
      this.state.state = 'idle';
    });
    return this.running;
  }

  /** Aborts a request in flight and sends nothing more. */
  async stop(): Promise<void> {
    this.stopper.abort();
    await this.running?.catch(() => undefined);
  }

  private get stopped(): boolean {
    return this.stopper.signal.aborted;
  }

  private async pass(): Promise<void> {
    const { outbox, options } = this.deps;
    while (!this.stopped && this.deps.now() >= this.state.notBefore) {
      const due = await outbox.due(options.maxWindowsPerRequest, this.deps.now());
      if (due.length === 0) return;
      const sendable = [];
      const contributions = [];
      for (const item of due) {
        // Not a record this code wrote (a damaged one): no server could accept it.
        if (isContribution(item.key)) contributions.push(item);
        else if (bodyWindows([item])) sendable.push(item);
        else await this.refuse([item], 'CORRUPT', 0, 'not a metrics batch');
      }
      if (sendable.length === 0 && contributions.length === 0) continue;
      const credentials = await this.credentials();
      if (!credentials) return;
      for (const item of contributions) {
        if (!(await this.contribute(item, credentials))) return;
      }
      if (sendable.length > 0 && !(await this.send(sendable, credentials))) return;
    }
  }

  /** Stored credentials, or new ones; undefined (with a retry scheduled) if registering failed. */
  private async credentials(): Promise<Credentials | undefined> {
    const { registration } = this.deps;
    const stored = await registration.current();
    if (stored) return stored;
    this.state.state = 'sending';
    this.state.requests++;
    const reply = await registration.register(this.stopper.signal);
    if (reply.kind === 'ok') {
      if (this.refused) this.deps.onReregistered?.(this.refused, reply.body);
      this.refused = undefined;
      return reply.body;
    }
    if (reply.kind === 'retry') {
      const failure = { ...reply, message: `registering: ${reply.message}` };
      this.backOff(reply.reason, failure, 1 + this.state.consecutiveFailures);
    } else if (reply.kind !== 'aborted') {
      // A wrong app key or a refused request: the app's configuration, not the network. Try
      // again only after the longest backoff, in case the server's configuration is what changes.
      this.state.failures++;
      this.state.consecutiveFailures++;
      this.state.notBefore = this.deps.now() + this.deps.options.backoffMaxMs;
      this.state.lastError = {
        at: this.deps.now(),
        kind: 'register',
        status: reply.status,
        code: reply.code,
        message: reply.message,
      };
    }
    return undefined;
  }

  /** Sends batches in one request. False when delivery should pause (retry scheduled, stopped). */
  private async send(group: QueuedBatch[], credentials: Credentials): Promise<boolean> {
    const windows = bodyWindows(group) ?? [];
    const batch: MetricsBatch = {
      idempotencyKey: await batchKey(group),
      windows,
      sentAt: this.deps.now(),
    };
    const reply = await this.withReauth(credentials, (c) => this.post(batch, c));
    if (!reply) return false;
    switch (reply.kind) {
      case 'ok':
        for (const item of group) {
          const delivered = bodyWindows([item])?.length ?? 0;
          await this.deps.outbox.ack(item.key, { [DELIVERY_COUNTERS.delivered]: delivered });
        }
        this.state.consecutiveFailures = 0;
        this.state.lastDeliveredAt = this.deps.now();
        return true;
      case 'retry': {
        const attempt = 1 + Math.max(...group.map((item) => item.attempts));
        const at = this.backOff(reply.reason, reply, attempt);
        for (const item of group) await this.deps.outbox.fail(item.key, at);
        return false;
      }
      case 'reject':
        if (group.length > 1) {
          for (const item of group) if (!(await this.send([item], credentials))) return false;
          return true;
        }
        await this.refuse(group, reply.code, reply.status, reply.message);
        return true;
      default:
        return false; // aborted: stopping
    }
  }

  /** Posts; on a refused token, registers again and posts once more. Undefined: no credentials. */
  private async withReauth<T>(
    credentials: Credentials,
    post: (credentials: Credentials) => Promise<Reply<T>>,
  ): Promise<Reply<T> | undefined> {
    let reply = await post(credentials);
    if (reply.kind === 'reauth') {
      this.refused ??= credentials;
      await this.deps.registration.forget();
      const fresh = await this.credentials();
      if (!fresh) return undefined;
      reply = await post(fresh);
      // A token refused right after registering: the server is confused; back off.
      if (reply.kind === 'reauth') reply = { ...reply, kind: 'retry', reason: 'server' };
    }
    return reply;
  }

  /**
   * Sends one queued contribution. Acknowledged (200 replay or 201) or refused for good: removed
   * and reported; retryable: backed off like a batch. False when delivery should pause.
   */
  private async contribute(item: QueuedBatch, credentials: Credentials): Promise<boolean> {
    const { options, outbox } = this.deps;
    const reply = await this.withReauth(credentials, (c) => {
      this.state.state = 'sending';
      this.state.requests++;
      return postContribution(options, item.body, c.token, {
        signal: this.stopper.signal,
        fetch: this.deps.fetch,
        now: this.deps.now,
      });
    });
    if (!reply) return false;
    switch (reply.kind) {
      case 'ok':
        await outbox.ack(item.key, { [CONTRIBUTION_COUNTERS.delivered]: 1 });
        this.state.consecutiveFailures = 0;
        this.state.lastDeliveredAt = this.deps.now();
        await this.deps.onContribution?.(item.key, {});
        return true;
      case 'retry': {
        const at = this.backOff(reply.reason, reply, 1 + item.attempts);
        await outbox.fail(item.key, at);
        return false;
      }
      case 'reject': {
        await outbox.ack(item.key, {
          [CONTRIBUTION_COUNTERS.refused]: 1,
          [`${CONTRIBUTION_COUNTERS.refused}.${reply.code}`]: 1,
        });
        const at = this.deps.now();
        this.state.lastError = {
          at,
          kind: 'rejected',
          status: reply.status,
          code: reply.code,
          message: reply.message,
        };
        await this.deps.onContribution?.(item.key, { code: reply.code });
        return true;
      }
      default:
        return false;
    }
  }

  private post(batch: MetricsBatch, credentials: Credentials): Promise<Reply<MetricsResponse>> {
    this.state.state = 'sending';
    this.state.requests++;
    const { options } = this.deps;
    return postJson(`${options.url}/v1/metrics`, batch, {
      token: credentials.token,
      timeoutMs: options.requestTimeoutMs,
      maxRetryAfterMs: options.maxRetryAfterMs,
      signal: this.stopper.signal,
      accept: (body) => acceptMetricsResponse(body, batch),
      fetch: this.deps.fetch,
      now: this.deps.now,
    });
  }

  /** Records a retryable failure and pauses delivery; returns when to try again. */
  private backOff(
    kind: DeliveryError['kind'],
    reply: { status?: number; code?: string; message: string; retryAfterMs?: number },
    attempt: number,
  ): number {
    const { options } = this.deps;
    const now = this.deps.now();
    const policy = { baseMs: options.backoffBaseMs, maxMs: options.backoffMaxMs };
    const at = now + retryDelay(attempt, policy, reply.retryAfterMs, this.deps.random);
    this.state.failures++;
    this.state.consecutiveFailures++;
    this.state.notBefore = at;
    this.state.lastError = { at: now, kind, message: reply.message };
    if (reply.status !== undefined) this.state.lastError.status = reply.status;
    if (reply.code !== undefined) this.state.lastError.code = reply.code;
    return at;
  }

  /** Drops batches the server refused for good, counting their windows and the reason. */
  private async refuse(group: QueuedBatch[], code: string, status: number, message: string) {
    let windows = 0;
    for (const item of group) {
      const count = bodyWindows([item])?.length ?? 1;
      windows += count;
      await this.deps.outbox.ack(item.key, {
        [DELIVERY_COUNTERS.rejected]: count,
        [`${DELIVERY_COUNTERS.rejected}.${code}`]: count,
      });
    }
    const at = this.deps.now();
    const error: DeliveryError = { at, kind: 'rejected', code, message };
    if (status > 0) error.status = status;
    this.state.lastError = error;
    this.state.lastRejection = { ...error, windows };
  }
}

/** The windows of queued batches, in queue order; undefined if any body is malformed. */
function bodyWindows(group: QueuedBatch[]): MetricWindow[] | undefined {
  const windows: MetricWindow[] = [];
  for (const item of group) {
    const body = item.body as Partial<MetricsBatch> | null;
    if (!Array.isArray(body?.windows) || body.windows.length === 0) return undefined;
    windows.push(...body.windows);
  }
  return windows;
}

/**
 * One batch keeps its own key; several share a key made from theirs (sha256 of the keys in
 * queue order), so the same set of batches is always the same request.
 */
export async function batchKey(group: readonly { key: string }[]): Promise<string> {
  if (group.length === 1) return group[0].key;
  const bytes = new TextEncoder().encode(group.map((item) => item.key).join('\n'));
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return `batch:${Array.from(digest.subarray(0, 20), (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** A metrics reply that answers this batch, or undefined (malformed: retry). */
export function acceptMetricsResponse(
  body: unknown,
  batch: MetricsBatch,
): MetricsResponse | undefined {
  const reply = body as Partial<MetricsResponse> | null;
  if (reply?.idempotencyKey !== batch.idempotencyKey) return undefined;
  for (const field of ['windows', 'stored', 'duplicates'] as const) {
    if (!Number.isInteger(reply[field]) || (reply[field] as number) < 0) return undefined;
  }
  return reply as MetricsResponse;
}
