/**
 * When to try a failed request again: exponential backoff with "full jitter" (a uniformly
 * random wait between 0 and the exponential cap; AWS Architecture Blog, "Exponential Backoff
 * and Jitter", 2015). Full jitter spreads a fleet of devices that all failed at the same
 * moment (a server restart) over the whole interval, instead of letting them return in waves.
 */

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
}

/**
 * The wait before retry number `attempt` (1 = the first retry): uniform in
 * [0, min(maxMs, baseMs · 2^(attempt − 1))). `random` is injectable for tests.
 */
export function fullJitterDelay(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const exponent = Math.max(0, Math.min(attempt - 1, 52)); // 2^52 already exceeds any cap
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** exponent);
  return Math.floor(random() * ceiling);
}

/**
 * The wait before the next attempt given the server's Retry-After (if any): never sooner than
 * the server asked, and never sooner than the jittered backoff — so a server that keeps
 * answering 429 with `Retry-After: 1` still sees the device slow down.
 */
export function retryDelay(
  attempt: number,
  policy: BackoffPolicy,
  retryAfterMs?: number,
  random: () => number = Math.random,
): number {
  const jittered = fullJitterDelay(attempt, policy, random);
  return retryAfterMs === undefined ? jittered : Math.max(retryAfterMs, jittered);
}
