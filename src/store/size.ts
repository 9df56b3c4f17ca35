/**
 * Approximate stored size of a structured-clone value, in bytes. Binary data counts exactly
 * (it dominates: weights, examples, model bytes); everything else gets a rough per-item cost.
 * The store only needs this to be stable and in the right order of magnitude, for its own byte
 * cap and for stats — browsers do not say how much one record really takes on disk.
 */
export function approxSize(value: unknown, seen: Set<object> = new Set()): number {
  if (value === null || value === undefined) return 1;
  switch (typeof value) {
    case 'number':
      return 8;
    case 'boolean':
      return 1;
    case 'string':
      return 2 * value.length + 4;
    case 'bigint':
      return 16;
    case 'object':
      break;
    default:
      return 8;
  }
  if (ArrayBuffer.isView(value)) return value.byteLength + 16;
  if (value instanceof ArrayBuffer) return value.byteLength + 16;
  if (seen.has(value)) return 8;
  seen.add(value);
  let size = 16;
  if (Array.isArray(value)) {
    for (const item of value) size += approxSize(item, seen);
    return size;
  }
  for (const [key, item] of Object.entries(value))
    size += 2 * key.length + 4 + approxSize(item, seen);
  return size;
}
