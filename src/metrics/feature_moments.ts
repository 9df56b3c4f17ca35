/**
 * Per-feature moments (count, sum, sum of squares) of the raw input values, for drift checks
 * on a server: moments add up across windows and devices, and give each feature's mean and
 * variance over any span, to compare with the training data's (`FeatureInput.reference`).
 *
 * Features are named columns holding a number or a vector; a vector's components are named
 * `name[i]`. Names fit the sync protocol's limits (1–128 characters of storable text, at most
 * {@link MAX_FEATURES} per window): a longer name keeps its start and ends in a hash of the
 * whole name, so two long names that share a prefix still count apart; control characters
 * (U+0000–U+001F, which the reference server refuses in every name) and unpaired surrogates
 * become U+FFFD, with the hash too.
 *
 * The moments are kept as a plain array (in order of first appearance) so that they can be
 * stored with an open window and sent as they are; a lookup index beside it is rebuilt as
 * needed and never stored.
 */
/** Count, sum and sum of squares: mergeable mean and variance (sent as is in `DriftStats`). */
export interface Moments {
  count: number;
  sum: number;
  sumSq: number;
}

/** Features per window at most (protocol.ts, `DriftStats.features`). */
export const MAX_FEATURES = 256;
/** Characters per feature name at most (protocol.ts, `DriftStats.features`). */
export const MAX_FEATURE_NAME = 128;

export type FeatureMoments = Moments & { name: string };

/** A column's value: a number, or a vector of them. */
export type FeatureValues = Readonly<Record<string, number | ArrayLike<number>>>;

const indexes = new WeakMap<FeatureMoments[], Map<string, FeatureMoments>>();

/**
 * Adds one example's values. Non-finite values are skipped (they say nothing about a
 * distribution and would poison the sums); features beyond the first {@link MAX_FEATURES}
 * of the list are not counted. Scalar columns are taken before vectors, so that one wide
 * vector (an embedding, say) cannot crowd every scalar feature out of the list.
 */
export function addFeatureValues(list: FeatureMoments[], values: FeatureValues): void {
  const index = indexOf(list);
  const vectors: [string, ArrayLike<number>][] = [];
  for (const column of Object.keys(values)) {
    const value = values[column];
    if (typeof value === 'number') add(list, index, column, undefined, value);
    else if (value !== null && typeof value === 'object' && 'length' in value) {
      if (value.length === 1) add(list, index, column, undefined, value[0]);
      else vectors.push([column, value]);
    }
  }
  for (const [column, vector] of vectors) {
    // Components beyond MAX_FEATURES could never fit in the list, so they are not even named.
    const length = Math.min(vector.length, MAX_FEATURES);
    for (let i = 0; i < length; i++) add(list, index, column, i, vector[i]);
  }
}

/** The name a column (or one of its components) has on the wire; '' for an unusable one. */
export function featureWireName(column: string, component?: number): string {
  if (column.length === 0) return '';
  const suffix = component === undefined ? '' : `[${component}]`;
  const clean = storable(column);
  if (clean === column && column.length + suffix.length <= MAX_FEATURE_NAME) {
    return column + suffix;
  }
  // Cut, or cleaned of what the server cannot store: the hash of the original keeps it apart
  // from every other name.
  const hash = `~${fnv1a(column)}`;
  let head = clean.slice(0, MAX_FEATURE_NAME - hash.length - suffix.length);
  if (/[\uD800-\uDBFF]$/.test(head)) head = head.slice(0, -1); // not half a surrogate pair
  return head + hash + suffix;
}

/** C0 control characters: the reference server refuses them in names (and NUL in any text). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const CONTROLS = /[\u0000-\u001f]/g;
/** Unpaired UTF-16 surrogates, which (like NUL) a server's text columns refuse. */
const LONE_SURROGATES = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

function storable(text: string): string {
  return text.replace(CONTROLS, '\uFFFD').replace(LONE_SURROGATES, '\uFFFD');
}

function add(
  list: FeatureMoments[],
  index: Map<string, FeatureMoments>,
  column: string,
  component: number | undefined,
  value: number,
): void {
  if (typeof value !== 'number' || !Number.isFinite(value)) return;
  const name = featureWireName(column, component);
  if (name === '') return;
  let moments = index.get(name);
  if (!moments) {
    if (list.length >= MAX_FEATURES) return;
    moments = { name, count: 0, sum: 0, sumSq: 0 };
    list.push(moments);
    index.set(name, moments);
  }
  moments.count += 1;
  moments.sum += value;
  moments.sumSq += value * value;
}

/** The list's lookup index, rebuilt when the list was restored from storage or copied. */
function indexOf(list: FeatureMoments[]): Map<string, FeatureMoments> {
  let index = indexes.get(list);
  if (!index || index.size !== list.length) {
    index = new Map(list.map((moments) => [moments.name, moments]));
    indexes.set(list, index);
  }
  return index;
}

/** 32-bit FNV-1a of the UTF-16 code units, as 8 hex digits: short, stable, well spread. */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0).toString(16).padStart(8, '0');
}
