/** `localfit prequential --drift`: a change detector on the prequential error stream. */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { main } from '../../../models/cli/main.ts';
import { Prequential } from '../../../models/cli/prequential.ts';
import { mulberry32 } from '../../../models/onnx/prng.ts';
import { Adwin, PageHinkley } from '../../../src/drift/index.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));

function localfit(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['server/bin/localfit.mjs', ...args],
      { cwd: root, timeout: 120_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, {
    stdout: (text) => {
      out += `${text}\n`;
    },
    stderr: (text) => {
      err += `${text}\n`;
    },
  });
  return { code, out, err };
}

const dir = mkdtempSync(join(tmpdir(), 'localfit-drift-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A binary stream (y = [x > 0]) whose label noise alternates between 5 % and 40 % every
 * `block` rows, so the prequential error rate moves between about 0.05 and 0.4 at each block.
 */
function noisy(blocks: number, block: number): string {
  const random = mulberry32(21);
  const lines = ['x,noise,y'];
  for (let b = 0; b < blocks; b++) {
    const flip = b % 2 === 0 ? 0.05 : 0.4;
    for (let i = 0; i < block; i++) {
      const x = random() * 2 - 1;
      const y = (x > 0 ? 1 : 0) ^ (random() < flip ? 1 : 0);
      lines.push(`${x},${random()},${y}`);
    }
  }
  const path = join(dir, `noisy-${blocks}-${block}.csv`);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

describe('on the Elec2 stream', () => {
  test('--drift adwin --json adds the rows of the detections as `drifts`', {
    timeout: 120_000,
  }, async () => {
    const { code, stdout, stderr } = await localfit(
      'prequential',
      '../shared/data/streams/elec.csv',
      '--drift',
      'adwin',
      '--json',
    );
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report.n).toBe(45312);
    // Detecting changes only watches: learning, and so accuracy, is that of a plain run.
    expect(report.accuracy).toBeGreaterThanOrEqual(0.9);
    const drifts: number[] = report.drifts;
    expect(Array.isArray(drifts)).toBe(true);
    expect(drifts.length).toBeGreaterThan(0);
    for (const [i, row] of drifts.entries()) {
      expect(Number.isInteger(row) && row >= 0 && row < report.n).toBe(true);
      if (i > 0) expect(row).toBeGreaterThan(drifts[i - 1]);
    }
  });
});

describe('the flag', () => {
  test('prints every detection when few, a summary when many', async () => {
    const few = await run('prequential', noisy(4, 1500), '--drift', 'ph');
    expect(few.code).toBe(0);
    const line = few.out.split('\n').find((l) => l.startsWith('drift'));
    expect(line).toMatch(/^drift {5}ph: \d+ detections? at rows \d+/);
    expect(line).not.toContain('…');

    const many = await run('prequential', noisy(60, 300), '--drift', 'adwin');
    expect(many.code).toBe(0);
    const summary = many.out.split('\n').find((l) => l.startsWith('drift'))!;
    const count = Number(/adwin: (\d+) detections/.exec(summary)?.[1]);
    expect(count).toBeGreaterThan(20);
    expect(summary).toContain('… ');
    expect(summary).toContain('(--json lists all)');
    const json = JSON.parse(
      (await run('prequential', noisy(60, 300), '--drift', 'adwin', '--json')).out,
    );
    expect(json.drifts.length).toBe(count);
  });

  test('classification: the detector watches the 0/1 error of each row', () => {
    const random = mulberry32(6);
    // A threshold never reached: the detector's running mean is then the mean error so far.
    const detector = new PageHinkley({ threshold: 1e9 });
    const run = new Prequential({ task: 'binary', dim: 1, drift: detector });
    for (let i = 0; i < 3000; i++) {
      const x = random() * 2 - 1;
      run.step([x], (x > 0 ? 1 : 0) ^ (random() < 0.2 ? 1 : 0));
    }
    const report = run.finish();
    expect(detector.n).toBe(3000);
    expect(detector.mean).toBeCloseTo(1 - report.accuracy!, 12);
    expect(report.drifts).toEqual([]);
  });

  test('each rise of the error rate is caught within 300 rows', async () => {
    const path = noisy(6, 1000);
    const json = JSON.parse((await run('prequential', path, '--drift', 'adwin', '--json')).out);
    expect(json.drifts.length).toBeGreaterThanOrEqual(3);
    // Each rise of the noise (at rows 1000, 3000, 5000) is caught within 300 rows.
    for (const change of [1000, 3000, 5000]) {
      expect(json.drifts.some((row: number) => row >= change && row < change + 300)).toBe(true);
    }
  });

  test('regression: the detector watches |y − ŷ|', () => {
    const random = mulberry32(5);
    const detector = new Adwin();
    const run = new Prequential({ task: 'regression', dim: 1, drift: detector });
    for (let i = 0; i < 4000; i++) {
      const x = random() * 2 - 1;
      const noise = (i < 2000 ? 0.1 : 1.5) * (random() - 0.5); // the noise grows at 2000
      run.step([x], 3 * x + noise);
    }
    const report = run.finish();
    expect(detector.n).toBe(4000);
    expect(report.drifts!.some((row) => row >= 2000 && row < 2300)).toBe(true);
  });

  test('without --drift the JSON has no drifts key; an unknown detector is a usage error', async () => {
    const plain = JSON.parse((await run('prequential', noisy(4, 1500), '--json')).out);
    expect('drifts' in plain).toBe(false);
    const bad = await run('prequential', noisy(4, 1500), '--drift', 'ddm');
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--drift must be one of adwin, ph, kswin');
  });
});
