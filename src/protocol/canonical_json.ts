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
  // A value already in canonical key order (what the server's validator builds) is written by
  // JSON.stringify natively: checking the order costs half of building the text.
  return inCanonicalOrder(value) ? JSON.stringify(value) : build(value);
}

/**
 * True when JSON.stringify(value) is already canonical: keys in ascending order at every level
 * (V8 lists integer-like keys first, so an object with them usually fails and is sorted), no
 * undefined, function or symbol anywhere, every number finite.
 */
function inCanonicalOrder(value: unknown): boolean {
  if (typeof value === 'number') return Number.isFinite(value);
  if (typeof value === 'string' || typeof value === 'boolean' || value === null) return true;
  if (typeof value !== 'object') return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!inCanonicalOrder(value[i])) return false;
    return true;
  }
  // Only plain objects: anything with toJSON or a prototype of its own is built the long way.
  if (Object.getPrototypeOf(value) !== Object.prototype) return false;
  let previous: string | undefined;
  for (const key in value) {
    if (!Object.hasOwn(value, key)) return false;
    if (previous !== undefined && !(previous < key)) return false;
    previous = key;
    const entry = (value as Record<string, unknown>)[key];
    if (entry === undefined || !inCanonicalOrder(entry)) return false;
  }
  return true;
}

/**
 * Sorts what is out of order. Each child goes back through canonicalJson, so a histogram or
 * any other subtree already in order is still written natively.
 */
function build(value: unknown): string {
  if (typeof value === 'number') throw new TypeError('canonicalJson: non-finite number');
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i > 0 ? ',' : '') + canonicalJson(value[i]);
    return `${out}]`;
  }
  const record = value as Record<string, unknown>;
  let out = '{';
  for (const key of Object.keys(record).sort()) {
    const entry = record[key];
    if (entry === undefined) continue;
    out += `${out.length > 1 ? ',' : ''}${JSON.stringify(key)}:${canonicalJson(entry)}`;
  }
  return `${out}}`;
}
