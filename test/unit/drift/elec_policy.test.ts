/**
 * Issue 7's floor on real drift: on the electricity stream (`../shared/data/streams/elec.csv`,
 * read at test time), per-event learning with the drift policy on scores a prequential
 * accuracy no lower than with it off, for the default head and the other optimizers. The
 * numbers are printed and stated in src/drift/evaluate.ts's doc.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, test } from 'vitest';
import { parseNumber, splitCsvLine } from '../../../models/cli/csv.ts';
import { prequential } from '../../../models/cli/prequential.ts';
import { compareDriftPolicy, evaluateDriftPolicy } from '../../../src/drift/evaluate.ts';
import type { OptimizerConfig } from '../../../src/learn/types.ts';

const elec = fileURLToPath(new URL('../../../../shared/data/streams/elec.csv', import.meta.url));

let rows: [Float64Array, number][] = [];

beforeAll(() => {
  const lines = readFileSync(elec, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '');
  const header = splitCsvLine(lines[0]);
  expect(header[header.length - 1]).toBe('class');
  rows = lines.slice(1).map((line) => {
    const values = splitCsvLine(line).map(parseNumber);
    return [Float64Array.from(values.slice(0, -1)), values[values.length - 1]];
  });
  expect(rows.length).toBe(45_312);
});

const options = { task: 'binary', dim: 6, classes: [0, 1] } as const;

describe('electricity, per-event learning', () => {
  test('with the policy off, the numbers are prequential()’s', () => {
    const off = evaluateDriftPolicy(rows, { ...options, policy: false });
    const reference = prequential(rows, { task: 'binary', dim: 6, classes: [0, 1] });
    expect(off.accuracy).toBe(reference.accuracy);
    expect(off.logloss).toBeCloseTo(reference.logloss ?? Number.NaN, 12);
  });

  test.each<[string, OptimizerConfig | undefined]>([
    ['default head (SGD, optimal schedule)', undefined],
    ['SGD, constant η = 0.01', { kind: 'sgd', schedule: 'constant', eta0: 0.01 }],
    ['AdaGrad', { kind: 'adagrad' }],
    ['FTRL', { kind: 'ftrl' }],
  ])('%s: accuracy with the default policy ≥ without', (name, optimizer) => {
    const { off, on, accuracyGain } = compareDriftPolicy(rows, { ...options, optimizer });
    console.log(
      `elec ${name}: accuracy off ${off.accuracy?.toFixed(4)}, on ${on.accuracy?.toFixed(4)} ` +
        `(${(accuracyGain * 100).toFixed(2)} pp); log loss off ${off.logloss?.toFixed(4)}, ` +
        `on ${on.logloss?.toFixed(4)}; alarms ${JSON.stringify(on.byDetector)}; ` +
        `mean multiplier ${on.meanMultiplier?.toFixed(3)}`,
    );
    expect(accuracyGain).toBeGreaterThanOrEqual(0);
    expect(on.drifts?.length).toBeGreaterThan(0);
    expect(on.maxMultiplier).toBeLessThanOrEqual(2);
  });

  test('the default head’s log loss is no worse with the policy either', () => {
    const { off, on } = compareDriftPolicy(rows, options);
    expect(on.logloss).toBeLessThanOrEqual(off.logloss ?? 0);
  });
});
