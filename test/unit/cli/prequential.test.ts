/** The `localfit prequential` command, run as users run it: a child process of server/bin/localfit.mjs. */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { Prequential, prequential } from '../../../models/cli/prequential.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = fileURLToPath(new URL('../../../server/bin/localfit.mjs', import.meta.url));
const elec = fileURLToPath(new URL('../../../../shared/data/streams/elec.csv', import.meta.url));

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function localfit(...args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { cwd: root, timeout: 120_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const dir = mkdtempSync(join(tmpdir(), 'localfit-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function csv(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const KEYS = ['accuracy', 'auc', 'candidates', 'logloss', 'mae', 'n', 'rmse', 'samples_per_s'];

describe('on the Elec2 stream', () => {
  test('the data set is where design.md says (../shared/data beside the checkout)', () => {
    expect(existsSync(elec), elec).toBe(true);
  });

  test('defaults reach ≥ 0.90 prequential accuracy and print one JSON object', {
    timeout: 120_000,
  }, async () => {
    const { code, stdout, stderr } = await localfit('prequential', elec, '--json');
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(Object.keys(report).sort()).toEqual(KEYS);
    expect(report.n).toBe(45312);
    expect(report.accuracy).toBeGreaterThanOrEqual(0.9);
    expect(report.auc).toBeGreaterThan(0.9);
    expect(report.logloss).toBeGreaterThan(0);
    expect(report.samples_per_s).toBeGreaterThan(0);
    expect(report.rmse).toBeNull();
    expect(report.mae).toBeNull();
  });

  test('waiting for batches of 50 costs accuracy on this drifting stream', {
    timeout: 120_000,
  }, async () => {
    const [single, batched] = await Promise.all([
      localfit('prequential', elec, '--json'),
      localfit('prequential', elec, '--json', '--batch', '50'),
    ]);
    const a = JSON.parse(single.stdout).accuracy;
    const b = JSON.parse(batched.stdout).accuracy;
    expect(a - b).toBeGreaterThan(0.05);
  });
});

describe('task inference and output', () => {
  test('a multiclass target with string labels', { timeout: 60_000 }, async () => {
    const rows = ['x,y,label'];
    for (let i = 0; i < 300; i++) {
      const k = i % 3;
      rows.push(`${k + 0.1 * Math.sin(i)},${(k * 7) % 3},"${['red', 'green', 'blue'][k]}"`);
    }
    const { code, stdout } = await localfit(
      'prequential',
      csv('multi.csv', rows.join('\n')),
      '--json',
    );
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report.accuracy).toBeGreaterThan(0.8);
    expect(report.auc).toBeNull();
    expect(report.rmse).toBeNull();
  });

  test('a real-valued target is regression; --target picks a column that is not last', {
    timeout: 60_000,
  }, async () => {
    const rows = ['y,a,b'];
    for (let i = 0; i < 500; i++) {
      const a = Math.sin(i);
      const b = Math.cos(i * 0.7);
      rows.push(`${(2 * a - b + 0.5).toFixed(4)},${a.toFixed(4)},${b.toFixed(4)}`);
    }
    const { code, stdout } = await localfit(
      'prequential',
      csv('reg.csv', rows.join('\n')),
      '--target',
      'y',
      '--json',
    );
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report.accuracy).toBeNull();
    expect(report.rmse).toBeGreaterThan(0);
    expect(report.rmse).toBeLessThan(1.2); // the target's own spread is ~1.6: it learned something
    expect(report.mae).toBeLessThanOrEqual(report.rmse);
  });

  test('the human-readable report names the metrics', { timeout: 60_000 }, async () => {
    const path = csv('tiny.csv', 'a,b,y\n1,2,0\n2,1,1\n1,3,0\n3,1,1\n');
    const { code, stdout } = await localfit(
      'prequential',
      path,
      '--optimizer',
      'ftrl',
      '--lr',
      '0.5',
    );
    expect(code).toBe(0);
    expect(stdout).toMatch(/accuracy/);
    expect(stdout).toMatch(/roc auc/);
    expect(stdout).toMatch(/samples\/s/);
  });
});

describe.concurrent('errors: a clear message and a non-zero exit', () => {
  const good = () => csv('good.csv', 'a,b,y\n1,2,0\n2,1,1\n');

  test.each([
    ['a missing file', () => ['prequential', join(dir, 'nope.csv')], /cannot read .*nope\.csv/],
    [
      'an unknown column',
      () => ['prequential', good(), '--target', 'price'],
      /unknown column 'price'.*a, b, y/,
    ],
    [
      'a non-numeric feature',
      () => ['prequential', csv('text.csv', 'a,b,y\n1,2,0\n1,high,1\n')],
      /line 3, column 'b': 'high' is not a finite number/,
    ],
    [
      'an empty feature',
      () => ['prequential', csv('gap.csv', 'a,b,y\n1,,0\n1,2,1\n')],
      /line 2, column 'b'/,
    ],
    [
      'a ragged row',
      () => ['prequential', csv('ragged.csv', 'a,b,y\n1,2,0\n1,2\n')],
      /line 3: expected 3 fields/,
    ],
    [
      'an unknown flag',
      () => ['prequential', good(), '--frobnicate', '1'],
      /unknown option '--frobnicate'/,
    ],
    ['a flag without its value', () => ['prequential', good(), '--batch'], /--batch needs a value/],
    [
      'a bad flag value',
      () => ['prequential', good(), '--batch', '0'],
      /--batch needs a positive integer/,
    ],
    ['a bad task', () => ['prequential', good(), '--task', 'ranking'], /--task must be one of/],
    [
      'a schedule for adagrad',
      () => ['prequential', good(), '--optimizer', 'adagrad', '--schedule', 'constant'],
      /--schedule applies to sgd only/,
    ],
    ['a missing file argument', () => ['prequential'], /missing <file.csv>/],
    ['an unknown command', () => ['train', good()], /unknown command 'train'/],
    [
      'a one-valued target',
      () => ['prequential', csv('one.csv', 'a,y\n1,0\n2,0\n')],
      /single value/,
    ],
    [
      'binary forced on three classes',
      () => ['prequential', csv('three.csv', 'a,y\n1,0\n2,1\n3,2\n'), '--task', 'binary'],
      /needs 2 distinct target values/,
    ],
  ] as const)('%s', { timeout: 60_000 }, async (_name, args, message) => {
    const { code, stdout, stderr } = await localfit(...args());
    expect(code).not.toBe(0);
    expect(stderr).toMatch(message);
    expect(stdout).toBe('');
  });

  test('--help prints the usage and exits 0', { timeout: 60_000 }, async () => {
    const { code, stdout } = await localfit('--help');
    expect(code).toBe(0);
    expect(stdout).toMatch(/usage: localfit prequential/);
  });
});

describe('the evaluation loop (in process)', () => {
  test('predicts each row before learning it', () => {
    // A model that learned a row before predicting it would get this alternating stream
    // right from row 2 on; test-then-train gets the first row wrong at least.
    const rows: [number[], number][] = [];
    for (let i = 0; i < 200; i++) rows.push([[i % 2 ? 1 : -1], i % 2]);
    const report = prequential(rows, { task: 'binary', dim: 1 });
    expect(report.n).toBe(200);
    expect(report.accuracy).toBeLessThan(1);
    expect(report.accuracy).toBeGreaterThan(0.9);
  });

  test('a batch is predicted with the model from before it, then learned row by row', () => {
    // The label flips at row 100 and stays flipped.
    const rows: [number[], number][] = [];
    for (let i = 0; i < 200; i++) rows.push([[1], i < 100 ? 0 : 1]);
    const perRow = new Prequential({ task: 'binary', dim: 1, scale: false });
    const batched = new Prequential({ task: 'binary', dim: 1, scale: false, batch: 100 });
    for (const [x, y] of rows) {
      perRow.step(x, y);
      batched.step(x, y);
    }
    const a = perRow.finish();
    const b = batched.finish();
    // The batch learner meets all 100 flipped rows with a model that has seen none of them.
    expect(b.accuracy).toBeLessThanOrEqual(0.5);
    expect(a.accuracy).toBeGreaterThan(0.9);
    // Same rows, same order, one update each: the same final model.
    expect(batched.head.exportState()).toEqual(perRow.head.exportState());
  });
});
