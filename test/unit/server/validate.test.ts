import { describe, expect, test } from 'vitest';
import { metricsBatch } from '../../../server/schemas.ts';
import {
  array,
  jsonObject,
  number,
  object,
  optional,
  string,
  ValidationError,
} from '../../../server/validate.ts';
import { canonicalJson } from '../../../src/protocol/canonical_json.ts';
import { makeWindow } from './support/http.ts';

const problem = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    if (error instanceof ValidationError) return { path: error.path, problem: error.problem };
    throw error;
  }
  return null;
};

describe('validation kit', () => {
  const shape = object<{ a: number; b?: string; list: number[] }>(
    { a: number({ min: 0 }), b: optional(string({ max: 3 })), list: array(number(), { max: 2 }) },
    { strict: true },
  );

  test('returns a fresh object with known keys only', () => {
    const input = JSON.parse('{"a":1,"list":[1,2],"__proto__":{"polluted":true}}');
    expect(problem(() => shape(input, ''))).toEqual({
      path: '__proto__',
      problem: 'is not a known field',
    });
    const lenient = object<{ a: number }>({ a: number() });
    const out = lenient(input, '');
    expect(out).toEqual({ a: 1 });
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test('names the first bad path', () => {
    expect(problem(() => shape({ a: -1, list: [] }, ''))?.path).toBe('a');
    expect(problem(() => shape({ a: 1, list: [1, 'x'] }, ''))?.path).toBe('list[1]');
    expect(problem(() => shape({ a: 1, b: 'long', list: [] }, ''))?.path).toBe('b');
    expect(problem(() => shape({ a: 1 }, ''))).toEqual({ path: 'list', problem: 'is required' });
    expect(problem(() => shape({ a: 1, b: null, list: [] }, ''))?.path).toBe('b');
  });

  test('free-form JSON is bounded in depth and size, iteratively', () => {
    const check = jsonObject({ maxDepth: 5, maxBytes: 100 });
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(problem(() => check({ deep }, 'head'))?.problem).toContain('deeper');
    expect(problem(() => check({ s: 'x'.repeat(200) }, 'head'))?.problem).toContain('larger');
    expect(check({ a: [1, { b: 2 }] }, 'head')).toEqual({ a: [1, { b: 2 }] });
  });

  test('metric batches ignore unknown fields (newer devices) but check every known one', () => {
    const window = { ...makeWindow('w1', 'v1'), futureField: { x: 1 } };
    const batch = metricsBatch({ idempotencyKey: 'key-00001', windows: [window], extra: 1 }, '');
    expect(batch).not.toHaveProperty('extra');
    expect(batch.windows[0]).not.toHaveProperty('futureField');
    expect(
      problem(() =>
        metricsBatch({ idempotencyKey: 'key-00001', windows: [{ ...window, end: 0 }] }, ''),
      )?.path,
    ).toBe('windows[0].end');
  });

  test('a validated batch is built in canonical key order (so hashing it needs no sort)', () => {
    const shuffled = (w: object) => Object.fromEntries(Object.entries(w).reverse());
    const windows = [makeWindow('w1', 'v1'), makeWindow('w2', 'v2')].map(shuffled);
    const batch = metricsBatch({ windows, idempotencyKey: 'key-00001' }, '');
    for (const w of batch.windows) expect(JSON.stringify(w)).toBe(canonicalJson(w));
    expect(Object.keys(batch)).toEqual([...Object.keys(batch)].sort());
  });

  test('a failure deep in a later window is named by its full path (paths are built only then)', () => {
    const good = makeWindow('w1', 'v1');
    const positive = [...(good.auc?.positive ?? [])];
    positive[57] = -1;
    const bad = { ...makeWindow('w2', 'v1'), auc: { positive, negative: good.auc?.negative } };
    const batch = { idempotencyKey: 'key-00001', windows: [good, bad] };
    expect(problem(() => metricsBatch(batch, ''))).toEqual({
      path: 'windows[1].auc.positive[57]',
      problem: 'must be >= 0',
    });
    // A cross-field rule of the second window, on its own path too.
    const full = new Array<number>(positive.length).fill(0);
    full[0] = good.count + 1;
    const overfull = { ...makeWindow('w3', 'v1'), auc: { positive: full, negative: full } };
    expect(problem(() => metricsBatch({ ...batch, windows: [good, overfull] }, ''))?.path).toBe(
      'windows[1].auc',
    );
  });
});
