/**
 * `npx localfit prequential --drift-policy on`, run as users run it (a child process of
 * server/bin/localfit.mjs) on the electricity stream: the policy's alarms are reported, and the
 * accuracy is no lower than without it (issue 7's floor), and equals evaluate.ts's figure.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = fileURLToPath(new URL('../../../server/bin/localfit.mjs', import.meta.url));

function localfit(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
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

describe('--drift-policy', () => {
  test('on Elec2: on reports its alarms and scores no lower than off', {
    timeout: 120_000,
  }, async () => {
    const elec = '../shared/data/streams/elec.csv';
    const [on, off] = await Promise.all([
      localfit('prequential', elec, '--drift-policy', 'on', '--json'),
      localfit('prequential', elec, '--drift-policy=off', '--json'),
    ]);
    expect(on.stderr).toBe('');
    expect(off.stderr).toBe('');
    const withPolicy = JSON.parse(on.stdout);
    const without = JSON.parse(off.stdout);
    expect(without.policy).toBeUndefined();
    expect(withPolicy.n).toBe(45_312);
    expect(withPolicy.accuracy).toBeGreaterThanOrEqual(without.accuracy);
    expect(withPolicy.policy.byDetector['loss.adwin']).toBeGreaterThan(0);
    expect(withPolicy.policy.alerts).toBe(
      Object.values(withPolicy.policy.byDetector as Record<string, number>).reduce(
        (a, b) => a + b,
        0,
      ),
    );
    expect(withPolicy.policy.meanMultiplier).toBeGreaterThan(1);
    expect(withPolicy.policy.meanMultiplier).toBeLessThanOrEqual(2);
  });

  test('a value other than on or off is a usage error', async () => {
    const { code, stderr } = await localfit('prequential', 'x.csv', '--drift-policy', 'maybe');
    expect(code).toBe(2);
    expect(stderr).toContain("--drift-policy must be one of on, off, got 'maybe'");
  });
});
