/**
 * Detector states hold typed arrays (cheap to structured-clone into IndexedDB); a drift
 * policy's snapshot must also survive `JSON.stringify`, e.g. in a report or a file. These
 * two functions turn any such state into plain JSON and back, exactly: a typed array becomes
 * `{ $typed: 'Float64Array', values: [...] }`, and JavaScript prints every double so that
 * parsing it gives the same bits, so a restored detector continues bit for bit.
 *
 * ```ts
 * import { Adwin } from './adwin.ts';
 * import { fromJsonState, toJsonState } from './json_state.ts';
 * const adwin = new Adwin();
 * const text = JSON.stringify(toJsonState(adwin.exportState()));
 * const again = Adwin.restore(fromJsonState(JSON.parse(text)));
 * ```
 */
import { LearnerError } from '../errors.ts';

/** What {@link toJsonState} produces: JSON values only. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | JsonValue[]
  | { [key: string]: JsonValue };

const TYPED = {
  Float64Array,
  Float32Array,
  Int32Array,
  Uint8Array,
  Uint16Array,
  Uint32Array,
} as const;

type TypedName = keyof typeof TYPED;

function typedName(value: object): TypedName | undefined {
  for (const name of Object.keys(TYPED) as TypedName[]) {
    if (value instanceof TYPED[name]) return name;
  }
  return undefined;
}

/** A deep copy of `state` with typed arrays tagged; throws BAD_CONFIG on a non-finite number. */
export function toJsonState(state: unknown): JsonValue {
  if (state === null || typeof state === 'boolean' || typeof state === 'string') return state;
  if (typeof state === 'number') {
    if (!Number.isFinite(state)) {
      throw new LearnerError('BAD_CONFIG', `a drift state holds a non-finite number: ${state}`);
    }
    return state;
  }
  if (Array.isArray(state)) return state.map(toJsonState);
  if (typeof state === 'object') {
    const name = typedName(state);
    if (name) return { $typed: name, values: Array.from(state as ArrayLike<number>) };
    const out: { [key: string]: JsonValue } = {};
    for (const [key, value] of Object.entries(state)) {
      if (value !== undefined) out[key] = toJsonState(value);
    }
    return out;
  }
  throw new LearnerError('BAD_CONFIG', `a drift state cannot hold a ${typeof state}`);
}

/**
 * The inverse of {@link toJsonState}; BAD_CONFIG on a malformed tag. `T` is what the caller
 * expects; the shape is checked by the `restore` the result goes to, not here.
 */
export function fromJsonState<T>(json: JsonValue): T {
  return decode(json) as T;
}

function decode(json: unknown): unknown {
  if (json === null || typeof json !== 'object') return json;
  if (Array.isArray(json)) return json.map(decode);
  const record = json as Record<string, unknown>;
  if ('$typed' in record) {
    const name = record.$typed as TypedName;
    const values = record.values;
    if (!Object.hasOwn(TYPED, name) || !Array.isArray(values)) {
      throw new LearnerError('BAD_CONFIG', `invalid drift state: bad typed array ${String(name)}`);
    }
    if (!values.every((v) => typeof v === 'number' && Number.isFinite(v))) {
      throw new LearnerError('BAD_CONFIG', `invalid drift state: ${name} holds a non-number`);
    }
    return TYPED[name].from(values as number[]);
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record)) out[key] = decode(value);
  return out;
}
