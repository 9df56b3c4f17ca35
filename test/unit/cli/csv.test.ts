import { describe, expect, test } from 'vitest';
import { CliError, parseNumber, splitCsvLine, TargetSummary } from '../../../models/cli/csv.ts';

describe('splitCsvLine', () => {
  test.each([
    ['1,2,3', ['1', '2', '3']],
    ['a,"b,c",d', ['a', 'b,c', 'd']],
    ['"say ""hi""",2', ['say "hi"', '2']],
    ['1,,3', ['1', '', '3']],
    ['"",x', ['', 'x']],
  ])('%s', (line, fields) => {
    expect(splitCsvLine(line)).toEqual(fields);
  });

  test('an unterminated quote is an error', () => {
    expect(() => splitCsvLine('a,"b')).toThrow(CliError);
  });
});

test('parseNumber accepts finite numbers only', () => {
  expect(parseNumber(' 1.5e3 ')).toBe(1500);
  expect(parseNumber('-0.25')).toBe(-0.25);
  for (const bad of ['', '  ', 'abc', 'NaN', 'Infinity', '1,5']) expect(parseNumber(bad)).toBeNaN();
});

describe('TargetSummary infers the task from the whole column', () => {
  const infer = (values: string[]) => {
    const summary = new TargetSummary();
    for (const v of values) summary.observe(v);
    return summary;
  };

  test('two values → binary, classes sorted as numbers', () => {
    const s = infer(['1', '0', '1', '10']);
    expect(s.distinct).toBe(3);
    const b = infer(['1', '0', '1']);
    expect(b.inferTask()).toBe('binary');
    expect(b.classes()).toEqual([0, 1]);
    expect(b.label(' 1 ')).toBe(1);
  });

  test('two string values → binary with string classes', () => {
    const s = infer(['UP', 'DOWN', 'UP']);
    expect(s.inferTask()).toBe('binary');
    expect(s.classes()).toEqual(['DOWN', 'UP']);
  });

  test('a few integers or labels → multiclass', () => {
    expect(infer(['1', '2', '3', '2']).inferTask()).toBe('multiclass');
    expect(infer(['a', 'b', 'c']).inferTask()).toBe('multiclass');
    expect(infer(['1', '2', '3']).classes()).toEqual([1, 2, 3]);
  });

  test('"1" and "1.0" are the same numeric class', () => {
    expect(infer(['1', '1.0', '0']).inferTask()).toBe('binary');
  });

  test('real values or many integers → regression', () => {
    expect(infer(['0.5', '1.25', '3']).inferTask()).toBe('regression');
    expect(infer(Array.from({ length: 30 }, (_, i) => String(i))).inferTask()).toBe('regression');
  });

  test('one value, or too many labels, cannot be learned', () => {
    expect(() => infer(['a', 'a']).inferTask()).toThrow(/single value/);
    expect(() => infer(Array.from({ length: 60 }, (_, i) => `id${i}`)).inferTask()).toThrow(
      /more than 50/,
    );
  });
});
