/**
 * Bucket ranges of staged versions. A device hashes its install id with the rollout id into a
 * bucket b in [0, 1) (src/rollout/arm.ts) and serves the staged version whose range
 * `[start, start + weight)` holds b. The server fixes `start` when it publishes a version and
 * keeps the ranges of staged versions disjoint, so a ramp only extends a range to the right:
 * every device that served the version still does, and none moves from one staged version to
 * another.
 *
 * Starts are rounded to 1e-9 so that float noise (0.1 + 0.2) never reaches the signed manifest.
 */

/** Weights and starts are floats: ranges that touch within this are not overlapping. */
export const RANGE_EPSILON = 1e-9;

export interface BucketRange {
  id: string;
  start: number;
  weight: number;
}

export function roundStart(x: number): number {
  return Math.round(x * 1e9) / 1e9;
}

function overlaps(start: number, weight: number, other: BucketRange): boolean {
  if (weight <= 0 || other.weight <= 0) return false;
  return (
    start < other.start + other.weight - RANGE_EPSILON &&
    other.start < start + weight - RANGE_EPSILON
  );
}

/**
 * The lowest start at which a range of `weight` fits in [0, 1) beside `taken`, or null when no
 * gap is wide enough. Candidates are 0 and the end of every taken range (a lowest free start is
 * always one of them).
 */
export function placeRange(taken: readonly BucketRange[], weight: number): number | null {
  const candidates = [
    0,
    ...taken.filter((r) => r.weight > 0).map((r) => roundStart(r.start + r.weight)),
  ]
    .filter((start) => start + weight <= 1 + RANGE_EPSILON)
    .sort((a, b) => a - b);
  for (const start of candidates)
    if (!taken.some((other) => overlaps(start, weight, other))) return start;
  return null;
}

/** Why `[start, start + weight)` cannot be held beside `others`, or null when it can. */
export function rangeProblem(
  others: readonly BucketRange[],
  start: number,
  weight: number,
): string | null {
  if (start + weight > 1 + RANGE_EPSILON)
    return `its range [${start}, ${roundStart(start + weight)}) would pass 1`;
  const hit = others.find((other) => overlaps(start, weight, other));
  if (hit)
    return `its range [${start}, ${roundStart(start + weight)}) would overlap ${hit.id}'s [${hit.start}, ${roundStart(hit.start + hit.weight)})`;
  return null;
}
