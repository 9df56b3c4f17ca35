/**
 * A tiny validation kit for JSON bodies: every body the server accepts goes through a
 * `Check`, which either returns a freshly built, fully typed value or throws a
 * `ValidationError` naming the first bad path. A schema library would do the same at many
 * times the size; these few combinators cover every shape the protocol has.
 *
 * Checks never recurse deeper than the schema itself (free-form JSON goes through `json()`,
 * which bounds depth and size), so hostile nesting cannot exhaust the stack, and objects are
 * rebuilt from their known keys only, so `__proto__` and friends never reach the server.
 */

export class ValidationError extends Error {
  override readonly name = 'ValidationError';
  readonly path: string;
  readonly problem: string;
  constructor(path: string, problem: string) {
    super(`${path || 'body'}: ${problem}`);
    this.path = path;
    this.problem = problem;
  }
}

/** Returns the value typed as T, or throws a ValidationError for `path`. */
export type Check<T> = ((value: unknown, path: string) => T) & { readonly optional?: true };

export type Infer<C> = C extends Check<infer T> ? T : never;

function fail(path: string, problem: string): never {
  throw new ValidationError(path, problem);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

export interface StringRules {
  min?: number;
  max: number;
  pattern?: RegExp;
  /** Said in the error when the pattern does not match. */
  patternName?: string;
  /**
   * Control characters (U+0000–U+001F) allowed: none (the default: names, ids, versions),
   * or tab, line feed and carriage return (`'whitespace'`: free text such as a reason). NUL is
   * never allowed (PostgreSQL cannot store it), nor is anything that would let a stored value
   * drive a terminal (ESC) when the CLI prints it.
   */
  controls?: 'none' | 'whitespace';
}

/**
 * Text PostgreSQL can store: no NUL character and no unpaired UTF-16 surrogate (text and jsonb
 * refuse both, which would otherwise surface as a storage error instead of a 400).
 */
export function isStorableText(value: string): boolean {
  return !value.includes('\u0000') && !LONE_SURROGATE.test(value);
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
const ANY_CONTROL = /[\u0000-\u001f]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
const NON_WHITESPACE_CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/;

/** The one text rule every string in a body meets (plain fields and inside free JSON). */
function checkText(value: string, path: string, controls: 'none' | 'whitespace'): void {
  if (!isStorableText(value)) fail(path, 'must be text without NUL or unpaired surrogates');
  if ((controls === 'none' ? ANY_CONTROL : NON_WHITESPACE_CONTROL).test(value))
    fail(
      path,
      controls === 'none'
        ? 'must not contain control characters (U+0000–U+001F)'
        : 'must not contain control characters other than tab and line breaks',
    );
}

export function string(rules: StringRules): Check<string> {
  const min = rules.min ?? 0;
  return (value, path) => {
    if (typeof value !== 'string') fail(path, `must be a string, not ${describe(value)}`);
    checkText(value, path, rules.controls ?? 'none');
    if (value.length < min) fail(path, `must have at least ${min} characters`);
    if (value.length > rules.max) fail(path, `must have at most ${rules.max} characters`);
    if (rules.pattern && !rules.pattern.test(value))
      fail(path, `must be ${rules.patternName ?? `like ${rules.pattern}`}`);
    return value;
  };
}

export interface NumberRules {
  min?: number;
  max?: number;
  integer?: boolean;
}

/** A finite number (JSON has no NaN or ∞, but a check should not depend on that). */
export function number(rules: NumberRules = {}): Check<number> {
  return (value, path) => {
    if (typeof value !== 'number' || !Number.isFinite(value))
      fail(path, `must be a finite number, not ${describe(value)}`);
    if (rules.integer && !Number.isSafeInteger(value)) fail(path, 'must be an integer');
    if (rules.min !== undefined && value < rules.min) fail(path, `must be >= ${rules.min}`);
    if (rules.max !== undefined && value > rules.max) fail(path, `must be <= ${rules.max}`);
    return value;
  };
}

export function boolean(): Check<boolean> {
  return (value, path) => {
    if (typeof value !== 'boolean') fail(path, `must be true or false, not ${describe(value)}`);
    return value;
  };
}

export function oneOf<const T extends string>(values: readonly T[]): Check<T> {
  return (value, path) => {
    if (typeof value !== 'string' || !(values as readonly string[]).includes(value))
      fail(path, `must be one of ${values.join(', ')}`);
    return value as T;
  };
}

export function array<T>(item: Check<T>, rules: { min?: number; max: number }): Check<T[]> {
  return (value, path) => {
    if (!Array.isArray(value)) fail(path, `must be an array, not ${describe(value)}`);
    if (value.length < (rules.min ?? 0)) fail(path, `must have at least ${rules.min} items`);
    if (value.length > rules.max) fail(path, `must have at most ${rules.max} items`);
    // Pushed, not preallocated: a packed array, which JSON.stringify writes three times as fast.
    const out: T[] = [];
    for (let i = 0; i < value.length; i++) {
      try {
        out.push(item(value[i], path));
      } catch (error) {
        named(error, () => item(value[i], `${path}[${i}]`));
      }
    }
    return out;
  };
}

/** Marks an object field as optional: absent (or undefined) is fine and stays absent. */
export function optional<T>(check: Check<T>): Check<T | undefined> {
  const wrapped = ((value: unknown, path: string) =>
    value === undefined ? undefined : check(value, path)) as Check<T | undefined>;
  return Object.assign(wrapped, { optional: true as const });
}

export function nullable<T>(check: Check<T>): Check<T | null> {
  return (value, path) => (value === null ? null : check(value, path));
}

type Shape<T> = { [K in keyof T]-?: Check<T[K]> };

export interface ObjectRules {
  /**
   * Refuse unknown keys (admin bodies, where a typo should not pass silently). Device bodies
   * ignore them instead, so a newer device can talk to an older server.
   */
  strict?: boolean;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function object<T>(shape: Shape<T>, rules: ObjectRules = {}): Check<T> {
  // Built in sorted key order, so that a validated value is already canonical JSON
  // (src/protocol/canonical_json.ts writes it without sorting): metric windows are hashed.
  // Fields are checked in that order too, so the first bad one reported is the first by name.
  const keys = (Object.keys(shape) as (keyof T & string)[]).sort();
  return (value, path) => {
    if (!isPlainObject(value)) fail(path, `must be an object, not ${describe(value)}`);
    if (rules.strict) {
      for (const key of Object.keys(value))
        if (!Object.hasOwn(shape, key)) fail(join(path, key), 'is not a known field');
    }
    const out = {} as T;
    for (const key of keys) {
      const check = shape[key] as Check<unknown>;
      const present = Object.hasOwn(value, key);
      if (!present && !check.optional) fail(join(path, key), 'is required');
      const field = present ? value[key] : undefined;
      let result: unknown;
      try {
        result = check(field, path);
      } catch (error) {
        named(error, () => check(field, join(path, key)));
      }
      if (result !== undefined) (out as Record<string, unknown>)[key] = result;
    }
    return out;
  };
}

/** A map with string keys (bounded in number and length) and checked values. */
export function record<T>(
  value: Check<T>,
  rules: { maxKeys: number; key: Check<string> },
): Check<Record<string, T>> {
  return (input, path) => {
    if (!isPlainObject(input)) fail(path, `must be an object, not ${describe(input)}`);
    const entries = Object.entries(input);
    if (entries.length > rules.maxKeys) fail(path, `must have at most ${rules.maxKeys} keys`);
    const out: Record<string, T> = Object.create(null);
    for (const [key, entry] of entries) {
      rules.key(key, `${join(path, key)} (key)`);
      out[key] = value(entry, join(path, key));
    }
    return { ...out };
  };
}

export interface JsonRules {
  maxDepth: number;
  /** Bound on the JSON text of the value. */
  maxBytes: number;
}

/**
 * Any JSON object (free-form, e.g. a head or a feature spec) of bounded depth and size, whose
 * keys and string values are text as `string({ controls: 'whitespace' })` wants it.
 * Walks iteratively, so depth is checked before anything recursive touches the value.
 */
export function jsonObject(rules: JsonRules): Check<Record<string, unknown>> {
  return (value, path) => {
    if (!isPlainObject(value)) fail(path, `must be an object, not ${describe(value)}`);
    const stack: [unknown, number, string][] = [[value, 1, path]];
    while (stack.length > 0) {
      const [node, depth, at] = stack.pop()!;
      if (typeof node === 'string') checkText(node, at, 'whitespace');
      if (typeof node !== 'object' || node === null) {
        if (typeof node === 'number' && !Number.isFinite(node)) fail(at, 'has a non-finite number');
        continue;
      }
      if (depth > rules.maxDepth) fail(path, `is nested deeper than ${rules.maxDepth} levels`);
      for (const [key, child] of Object.entries(node)) {
        const childPath = Array.isArray(node) ? `${at}[${key}]` : join(at, key);
        if (!Array.isArray(node)) checkText(key, `${childPath} (key)`, 'whitespace');
        stack.push([child, depth + 1, childPath]);
      }
    }
    if (new TextEncoder().encode(JSON.stringify(value)).length > rules.maxBytes)
      fail(path, `is larger than ${rules.maxBytes} bytes of JSON`);
    return JSON.parse(JSON.stringify(value)) as Record<string, unknown>;
  };
}

/** Adds a cross-field rule after a shape check. */
export function refine<T>(check: Check<T>, rule: (value: T, path: string) => void): Check<T> {
  return (value, path) => {
    const result = check(value, path);
    rule(result, path);
    return result;
  };
}

/**
 * Children are checked under their parent's path, and only one that fails is checked again
 * under its own, so that the error names it: building a path such as
 * `windows[3].auc.positive[57]` for every number of every batch was most of what validating a
 * metrics batch cost. Checks are pure, so the second run fails the same way; should it not,
 * the first error stands.
 */
function named(error: unknown, again: () => unknown): never {
  if (error instanceof ValidationError) again();
  throw error;
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/** Throws a ValidationError from a refine rule. */
export function invalid(path: string, problem: string): never {
  return fail(path, problem);
}
