/**
 * What an app configures to report metrics to a sync server (`createLearner({ sync })`), and
 * the defaults. Everything but the server and the app key has a default that suits a phone
 * on a flaky network: windows of 100 outcomes or a minute, a send at least every 30 s, and
 * retries that back off to five minutes.
 */
import { LearnerError } from '../errors.ts';
import type { RegisterRequest } from '../protocol/index.ts';
import { MAX_WINDOWS_PER_BATCH } from '../protocol/index.ts';

export interface SyncOptions {
  /** The sync server's base URL, e.g. `http://127.0.0.1:8787` (the `/v1/…` paths are added). */
  url: string;
  /** The app key devices register with (`npm run server -- serve` prints it; not a secret). */
  appKey: string;
  /** When a window of outcomes closes and is queued: whichever limit comes first. */
  window?: {
    /** Outcomes per window (default 100). */
    maxOutcomes?: number;
    /** Age of a window's first outcome (default 60 s). */
    maxAgeMs?: number;
  };
  /** Send queued windows at least this often (default 30 s)… */
  flushIntervalMs?: number;
  /** …and as soon as this many are queued (default 5). `flush()` (the page hides) sends too. */
  flushAtQueued?: number;
  /** Windows per request at most (default 50). */
  maxWindowsPerRequest?: number;
  /** A request still unanswered after this long is abandoned and retried (default 10 s). */
  requestTimeoutMs?: number;
  /** Retries wait a random time in [0, min(maxMs, baseMs · 2^attempt)) ("full jitter"). */
  backoff?: {
    /** Default 1 s. */
    baseMs?: number;
    /** Default 5 min. */
    maxMs?: number;
  };
  /** A server's Retry-After is honoured up to this long (default 1 h), so no reply parks a device. */
  maxRetryAfterMs?: number;
  /** Sent when registering, for operators. */
  client?: RegisterRequest['client'];
  /**
   * A credential from the app's own backend, for a server that binds installs to users
   * (`startServer({ register: { verify } })`, e.g. a short-lived JWT its `jwtVerifier`
   * checks). Called once per registration — at the first send or manifest check with no
   * install, and again only if the server forgets the install — and sent as
   * `Authorization: Bearer <token>` on `POST /v1/register`, nowhere else. `undefined` or `''`
   * registers without one; throwing (say, nobody is logged in) skips this attempt. A refused
   * or missing credential (`stats().sync.lastError`, kind 'register') is retried only after
   * `backoff.maxMs`; the learner keeps serving what it has meanwhile.
   */
  registrationToken?: () => string | undefined | Promise<string | undefined>;
  /**
   * Ranking metrics of slates (`predict(candidates, { slate })`): the cut-off k of P@k, R@k
   * and NDCG@k (default 10), how long a slate stays open (default 30 min), how many stay open
   * (default 256) and how many candidates one may have (default 1000).
   */
  ranking?: { k?: number; ttlMs?: number; maxOpen?: number; maxCandidates?: number };
}

/** The options with every default filled in and checked. */
export interface ResolvedSyncOptions {
  /** Without a trailing slash. */
  url: string;
  appKey: string;
  maxOutcomes: number;
  maxAgeMs: number;
  flushIntervalMs: number;
  flushAtQueued: number;
  maxWindowsPerRequest: number;
  requestTimeoutMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  maxRetryAfterMs: number;
  client?: RegisterRequest['client'];
  registrationToken?: SyncOptions['registrationToken'];
}

export const SYNC_DEFAULTS = {
  maxOutcomes: 100,
  maxAgeMs: 60_000,
  flushIntervalMs: 30_000,
  flushAtQueued: 5,
  maxWindowsPerRequest: 50,
  requestTimeoutMs: 10_000,
  backoffBaseMs: 1_000,
  backoffMaxMs: 300_000,
  maxRetryAfterMs: 3_600_000,
} as const;

/** Fills in defaults; a missing or malformed setting is a BAD_CONFIG, found at start-up. */
export function resolveSyncOptions(options: SyncOptions): ResolvedSyncOptions {
  const fail = (why: string): never => {
    throw new LearnerError('BAD_CONFIG', `sync: ${why}`);
  };
  if (typeof options !== 'object' || options === null) fail('options must be an object');
  let url: URL | undefined;
  try {
    url = new URL(options.url);
  } catch {
    fail(`url must be an absolute URL, got ${String(options.url)}`);
  }
  if (url!.protocol !== 'https:' && url!.protocol !== 'http:') fail('url must be http(s)');
  if (typeof options.appKey !== 'string' || options.appKey === '') fail('appKey is required');
  const positive = (value: number | undefined, fallback: number, name: string) => {
    if (value === undefined) return fallback;
    if (!(Number.isFinite(value) && value > 0)) fail(`${name} must be a positive number`);
    return value;
  };
  const whole = (value: number | undefined, fallback: number, name: string, max = Infinity) => {
    const resolved = positive(value, fallback, name);
    if (!Number.isInteger(resolved) || resolved > max) fail(`${name} must be an integer ≤ ${max}`);
    return resolved;
  };
  const resolved: ResolvedSyncOptions = {
    url: url!.href.replace(/\/+$/, ''),
    appKey: options.appKey,
    maxOutcomes: whole(
      options.window?.maxOutcomes,
      SYNC_DEFAULTS.maxOutcomes,
      'window.maxOutcomes',
    ),
    maxAgeMs: positive(options.window?.maxAgeMs, SYNC_DEFAULTS.maxAgeMs, 'window.maxAgeMs'),
    flushIntervalMs: positive(
      options.flushIntervalMs,
      SYNC_DEFAULTS.flushIntervalMs,
      'flushIntervalMs',
    ),
    flushAtQueued: whole(options.flushAtQueued, SYNC_DEFAULTS.flushAtQueued, 'flushAtQueued'),
    maxWindowsPerRequest: whole(
      options.maxWindowsPerRequest,
      SYNC_DEFAULTS.maxWindowsPerRequest,
      'maxWindowsPerRequest',
      MAX_WINDOWS_PER_BATCH,
    ),
    requestTimeoutMs: positive(
      options.requestTimeoutMs,
      SYNC_DEFAULTS.requestTimeoutMs,
      'requestTimeoutMs',
    ),
    backoffBaseMs: positive(options.backoff?.baseMs, SYNC_DEFAULTS.backoffBaseMs, 'backoff.baseMs'),
    backoffMaxMs: positive(options.backoff?.maxMs, SYNC_DEFAULTS.backoffMaxMs, 'backoff.maxMs'),
    maxRetryAfterMs: positive(
      options.maxRetryAfterMs,
      SYNC_DEFAULTS.maxRetryAfterMs,
      'maxRetryAfterMs',
    ),
  };
  if (resolved.backoffMaxMs < resolved.backoffBaseMs)
    fail('backoff.maxMs must be ≥ backoff.baseMs');
  if (options.client !== undefined) resolved.client = options.client;
  if (options.registrationToken !== undefined) {
    if (typeof options.registrationToken !== 'function')
      fail('registrationToken must be a function returning the token (or a promise of it)');
    resolved.registrationToken = options.registrationToken;
  }
  return resolved;
}
