/**
 * Rate limits kept in the database, so that they hold however many server processes share
 * it: a limit of 20 per minute is 20 per minute for the fleet's database, not per process.
 *
 * Each (scope, key) has one row in `rate_limits`: a fixed window of `burst / perSecond`
 * seconds, numbered on the database's clock (so processes agree on where windows start), and
 * the hits in the current window. One statement counts a hit and answers how many there
 * were: `burst` requests per window pass, the rest get 429 and Retry-After until the window
 * ends. (Across a window boundary up to twice `burst` may pass back to back; over time the
 * rate is `perSecond`.)
 *
 * A refusal is also remembered in this process until its window ends (`blocked`), so a key
 * that is over its limit costs no database work at all: that is what lets failed device
 * authentications be refused before the tokens table is consulted.
 */
import { prepared, type Queryable } from '../db/database.ts';
import { ApiError } from './errors.ts';

export interface RateLimitOptions {
  /** Requests allowed per window (and so back to back). */
  burst: number;
  /** The long-run rate: the window is `burst / perSecond` seconds. */
  perSecond: number;
}

export type RateDecision = { ok: true } | { ok: false; retryAfterSeconds: number };

/** Scopes in use, one per limit: the table's first key column. */
export type RateScope = 'device' | 'register' | 'register_subject' | 'auth_failure';

/** Refusals remembered in memory at most; beyond, the oldest are forgotten (and re-read). */
const MAX_REMEMBERED = 100_000;
/** Windows that ended this long ago are deleted (at most once per this interval). */
const PURGE_AFTER_SECONDS = 600;

/**
 * Counts a hit in the current window for each key of `keys` (a text[] expression; distinct
 * keys, since one statement cannot update a row twice) and returns (key, hits, left_seconds);
 * `scope`, `keys` and `seconds` are the placeholders of the scope, the keys and the window's
 * length. Another statement can embed it as a CTE (the metrics path counts its hits in its
 * transaction's first read: no round trip and no commit of their own). Rows are locked in
 * key order, so concurrent statements never wait on each other in a cycle.
 */
export const hitSql = (scope: string, keys: string, seconds: string) => `
  insert into rate_limits as r (scope, key, window_index, hits, until_epoch)
  select ${scope}, k.key, w, 1, (w + 1) * ${seconds}::float8
  from unnest(${keys}::text[]) as k(key),
       (select floor(extract(epoch from now()) / ${seconds}::float8)::bigint as w) win
  order by k.key
  on conflict (scope, key) do update set
    hits = case when r.window_index = excluded.window_index
                then least(r.hits + 1, 2147483647) else 1 end,
    window_index = excluded.window_index,
    until_epoch = excluded.until_epoch
  returning r.key, r.hits, r.until_epoch - extract(epoch from now())::float8 as left_seconds`;

/** Counts a hit in the current window ($1 scope, $2 key, $3 window seconds). */
const TAKE_SQL = prepared(hitSql('$1', 'array[$2::text]', '$3'));

export class RateLimiter {
  private readonly windowSeconds: number;
  /** key → performance.now() until which it is refused. */
  private readonly refusedUntil = new Map<string, number>();
  private lastPurge = Number.NEGATIVE_INFINITY;

  private readonly db: Queryable;
  private readonly scope: RateScope;
  private readonly options: RateLimitOptions;
  constructor(db: Queryable, scope: RateScope, options: RateLimitOptions) {
    if (!(options.burst >= 1) || !(options.perSecond > 0))
      throw new RangeError(`rate limit ${scope}: burst must be ≥ 1 and perSecond > 0`);
    this.db = db;
    this.scope = scope;
    this.options = options;
    this.windowSeconds = options.burst / options.perSecond;
  }

  /** Is `key` known (in this process) to be over its limit? No database work. */
  blocked(key: string): RateDecision {
    const until = this.refusedUntil.get(key);
    if (until === undefined) return { ok: true };
    const left = until - performance.now();
    if (left <= 0) {
      this.refusedUntil.delete(key);
      return { ok: true };
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(left / 1000)) };
  }

  /** Counts one request for `key` (unless it is already known to be refused). */
  async take(key: string): Promise<RateDecision> {
    const known = this.blocked(key);
    if (!known.ok) return known;
    const { rows } = await this.db.query<{ hits: number; left_seconds: number }>(
      TAKE_SQL,
      this.hitParams(key),
    );
    return this.decide(key, rows[0].hits, rows[0].left_seconds);
  }

  /** What `hitSql`'s placeholders stand for: scope, key (or keys), window seconds. */
  hitParams<K extends string | string[]>(keys: K): [RateScope, K, number] {
    return [this.scope, keys, this.windowSeconds];
  }

  /** The decision for a hit `hitSql` counted (remembering a refusal, as `take` does). */
  decide(key: string, hits: number, leftSeconds: number): RateDecision {
    this.purgeNowAndThen();
    if (hits <= this.options.burst) return { ok: true };
    const left = Math.max(0, Number(leftSeconds));
    if (this.refusedUntil.size >= MAX_REMEMBERED) {
      const oldest = this.refusedUntil.keys().next().value;
      if (oldest !== undefined) this.refusedUntil.delete(oldest);
    }
    this.refusedUntil.set(key, performance.now() + left * 1000);
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(left)) };
  }

  private purgeNowAndThen(): void {
    const now = performance.now();
    if (now - this.lastPurge < PURGE_AFTER_SECONDS * 1000) return;
    this.lastPurge = now;
    // Best effort and off the request's path: a failed purge is retried next interval.
    this.db
      .query(
        `delete from rate_limits
         where scope = $1 and until_epoch < extract(epoch from now())::float8 - $2`,
        [this.scope, PURGE_AFTER_SECONDS],
      )
      .catch(() => {});
  }
}

/** A refusal as the answer: 429 RATE_LIMITED with Retry-After. */
export function enforce(decision: RateDecision): void {
  if (!decision.ok) throw refusal(decision);
}

/** The 429 RATE_LIMITED error for a refusal (what enforce throws). */
export function refusal(decision: { retryAfterSeconds: number }): ApiError {
  return new ApiError(429, 'RATE_LIMITED', 'too many requests; retry later', {
    headers: { 'retry-after': String(decision.retryAfterSeconds) },
  });
}
