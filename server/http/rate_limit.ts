/**
 * Per-key token buckets (per install for device routes, per client address for
 * registration): `burst` requests at once, refilled at `perSecond`. A refused request learns
 * when a token will be there (Retry-After). State is per process and in memory: with several
 * processes each enforces its own share, which is the point of a limit against floods.
 */
export interface RateLimitOptions {
  /** Bucket size: requests allowed back to back. */
  burst: number;
  /** Refill rate, tokens per second. */
  perSecond: number;
  /** Keys tracked at most; beyond it the fullest (idlest) buckets are forgotten first. */
  maxKeys?: number;
  now?: () => number;
}

export type RateDecision = { ok: true } | { ok: false; retryAfterSeconds: number };

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly now: () => number;
  private readonly maxKeys: number;

  private readonly options: RateLimitOptions;
  constructor(options: RateLimitOptions) {
    this.options = options;
    this.now = options.now ?? (() => performance.now());
    this.maxKeys = options.maxKeys ?? 100_000;
  }

  take(key: string): RateDecision {
    const now = this.now();
    const { burst, perSecond } = this.options;
    const bucket = this.buckets.get(key) ?? { tokens: burst, at: now };
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * perSecond);
    bucket.at = now;
    // Re-insert: Map order is then least recently used first, for eviction.
    this.buckets.delete(key);
    this.buckets.set(key, bucket);
    if (this.buckets.size > this.maxKeys) this.evict();
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    const seconds = (1 - bucket.tokens) / perSecond;
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(seconds)) };
  }

  private evict(): void {
    // The least recently used tenth; an evicted key starts again with a full bucket, which is
    // no more than it would have had after idling.
    let drop = Math.ceil(this.maxKeys / 10);
    for (const key of this.buckets.keys()) {
      if (drop-- <= 0) break;
      this.buckets.delete(key);
    }
  }
}
