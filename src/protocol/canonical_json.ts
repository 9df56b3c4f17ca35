/**
 * Deterministic JSON: object keys sorted at every level, no whitespace. Used wherever bytes
 * must not depend on how a value was built: the signed manifest (the same state must give the
 * same bytes, ETag and signature on every server process), the hashes that tell a retried
 * metrics batch from a different one sent under the same key, and the metadata written into
 * model files (two equal feature specs built in another key order must give byte-identical
 * models, since a model is addressed by its sha256). Part of the protocol because the signed
 * bytes are.
 *
 * ```ts
 * import { canonicalJson } from './canonical_json.ts';
 * canonicalJson({ b: 1, a: [true, { d: null, c: 'x' }] }); // '{"a":[true,{"c":"x","d":null}],"b":1}'
 * ```
 *
 * Only for values that were validated first (bounded depth), since it recurses.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value))
      throw new TypeError('canonicalJson: non-finite number');
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record)
    .filter((key) => record[key] !== undefined)
    .sort();
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key])}`).join(',')}}`;
}
