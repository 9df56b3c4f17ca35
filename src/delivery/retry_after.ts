/**
 * The `Retry-After` header (RFC 9110 §10.2.3): either a number of seconds or an HTTP date.
 * Anything else (negative or fractional numbers, garbage) is ignored rather than trusted, and
 * the caller falls back to its own backoff; a date in the past means "now"; every value is
 * capped, so that one odd reply cannot silence a device for days.
 */

/** Milliseconds to wait, or undefined when the header is absent or unusable. */
export function parseRetryAfter(
  header: string | null | undefined,
  now: number,
  maxMs: number,
): number | undefined {
  if (header === null || header === undefined) return undefined;
  const value = header.trim();
  if (value === '') return undefined;
  if (/^\d+$/.test(value)) return Math.min(Number(value) * 1000, maxMs);
  // An HTTP date must name a weekday or month; Date.parse alone accepts bare numbers like "-1".
  if (!/[A-Za-z]{3}/.test(value)) return undefined;
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(0, at - now), maxMs);
}
