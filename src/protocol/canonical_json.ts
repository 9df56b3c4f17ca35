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
  if (typeof value === 'number') return finite(value);
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    // Arrays of numbers (histograms, weights) are most of what gets hashed: one pass to check
    // them, and JSON.stringify writes them natively, exactly as the general loop would.
    if (value.every(isFiniteNumber)) return JSON.stringify(value);
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i > 0 ? ',' : '') + canonicalJson(value[i]);
    return `${out}]`;
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort();
  let out = '{';
  for (const key of keys) {
    const entry = record[key];
    if (entry === undefined) continue;
    out += `${out.length > 1 ? ',' : ''}${JSON.stringify(key)}:${canonicalJson(entry)}`;
  }
  return `${out}}`;
}

function isFiniteNumber(value: unknown): boolean {
  return typeof value === 'number' && Number.isFinite(value);
}

function finite(value: number): string {
  if (!Number.isFinite(value)) throw new TypeError('canonicalJson: non-finite number');
  return JSON.stringify(value);
}
