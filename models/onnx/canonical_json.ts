/**
 * JSON with object keys sorted, for metadata written into model files: two equal feature
 * specs built in a different key order must still give byte-identical models, because a
 * model is addressed by the sha256 of its bytes.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) => {
    if (inner === null || typeof inner !== 'object' || Array.isArray(inner)) return inner;
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(inner).sort())
      sorted[key] = (inner as Record<string, unknown>)[key];
    return sorted;
  });
}
