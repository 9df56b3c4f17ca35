/**
 * The rollout policy from the command line: `serve` with policy flags, `evaluate`, `autopilot`
 * and the policy section of `status`, against a real server on a temporary data directory
 * (embedded database); then `evaluate --dry-run` directly on the database once it stopped.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { makeTestBackbone } from '../../../models/testing.ts';
import { type CliIo, runCli } from '../../../server/cli/commands.ts';
import type { RunningServer } from '../../../server/start.ts';
import type { Manifest, RegisterResponse } from '../../../src/protocol/index.ts';
import { assignArm, rolloutBucket } from '../../../src/rollout/arm.ts';
import { call } from './support/http.ts';

const TIMEOUT = 120_000;

function capture(extra: Partial<CliIo> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    out: (line) => out.push(line),
    err: (line) => err.push(line),
    env: { USER: 'tester' },
    ...extra,
  };
  return { io, out, err };
}

describe('server CLI: rollout policy', () => {
  let dir: string;
  const models: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'localfit-cli-policy-'));
    for (const seed of [21, 22]) {
      const path = join(dir, `model-${seed}.onnx`);
      await writeFile(path, makeTestBackbone({ seed }).bytes);
      models.push(path);
    }
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('bad policy flags are usage errors', async () => {
    for (const flags of [
      ['--alpha', '2'],
      ['--autopilot', 'maybe'],
      ['--ramp-steps', '0.5,x'],
      ['--ramp-steps', '0.5,0.25'],
      ['--min-devices', '0'],
    ]) {
      const c = capture();
      expect(await runCli(['serve', '--port', '0', '--data', dir, ...flags], c.io)).toBe(2);
      expect(c.err.join('\n')).toMatch(/alpha|autopilot|ramp-steps|rampSteps|minDevices/);
    }
  });

  test('bad connection flags are usage errors that name the flag', async () => {
    for (const [flag, value] of [
      ['--keep-alive-seconds', '0'],
      ['--keep-alive-seconds', 'soon'],
      ['--shutdown-grace-seconds', '-1'],
    ] as const) {
      const c = capture();
      expect(await runCli(['serve', '--port', '0', '--data', dir, flag, value], c.io)).toBe(2);
      expect(c.err.join('\n')).toContain(flag);
    }
  });

  test(
    'serve with policy flags; evaluate, autopilot and status show the verdict',
    async () => {
      let stop!: () => void;
      const untilStopped = new Promise<void>((resolve) => {
        stop = resolve;
      });
      let listening!: (server: RunningServer) => void;
      const started = new Promise<RunningServer>((resolve) => {
        listening = resolve;
      });
      const served = capture({ untilStopped, onServing: (server) => listening(server) });
      const exit = runCli(
        [
          'serve',
          '--port',
          '0',
          '--data',
          dir,
          '--autopilot',
          'off',
          '--min-devices',
          '2',
          '--min-samples',
          '100',
          '--ramp-steps',
          '0.05,0.25',
        ],
        served.io,
      );
      const server = await Promise.race([
        started,
        exit.then((code) => {
          throw new Error(`serve exited with ${code}: ${served.err.join('\n')}`);
        }),
      ]);
      const run = async (...argv: string[]) => {
        const c = capture();
        const code = await runCli([...argv, '--data', dir], c.io);
        return { code, out: c.out.join('\n'), err: c.err.join('\n') };
      };
      try {
        expect(served.out.join('\n')).toContain(
          'autopilot    off: ≥2 devices, ≥100 paired outcomes, alpha 0.05, ramp steps 0.05 → 0.25',
        );
        expect((await run('publish', models[0], '--weight', '0.1')).code).toBe(0);
        expect((await run('promote', 'v1')).code).toBe(0);
        // Installs registered before v2 is staged; the server counts only those in its arm
        // (18 at weight 0.5: fewer than 2 in it has a chance below 1e-4).
        const fleet: RegisterResponse[] = [];
        for (let i = 0; i < 18; i++)
          fleet.push(
            (
              await call<RegisterResponse>(server, 'POST', '/v1/register', {
                body: { appKey: server.appKey },
              })
            ).body,
          );
        expect((await run('publish', models[1], '--weight', '0.5')).code).toBe(0);
        const manifest = (await call<Manifest>(server, 'GET', '/v1/manifest')).body;
        const arm: RegisterResponse[] = [];
        for (const device of fleet)
          if (
            assignArm(manifest, await rolloutBucket(device.installId, manifest.rollout))?.id ===
            'v2'
          )
            arm.push(device);

        // Two devices report v2 clearly worse than v1 (d = logloss(v2) − logloss(v1) ≈ +0.2).
        for (const i of [0, 1]) {
          const device = arm[i];
          const n = 200;
          await call(server, 'POST', '/v1/metrics', {
            token: device.token,
            body: {
              idempotencyKey: `cli-policy-${i}-key`,
              windows: [
                {
                  windowId: `cli-policy-${i}`,
                  versionId: 'v2',
                  task: 'binary',
                  start: Date.now() - 1000,
                  end: Date.now(),
                  count: n,
                  loglossSum: n * 0.6,
                  paired: {
                    baselineVersionId: 'v1',
                    n,
                    diffSum: n * 0.2,
                    diffSumSq: n * (0.2 * 0.2 + 0.09),
                  },
                },
              ],
            },
          });
        }

        const evaluated = await run('evaluate');
        expect(evaluated.code).toBe(0);
        expect(evaluated.out).toContain('Rollout policy (autopilot off):');
        expect(evaluated.out).toMatch(
          /v2\s+rollback \(autopilot off\)\s+0\.500\s+v1\s+2\s+400\s+\+0\.2000\s+\[\+0\.\d{4}, \+0\.\d{4}\]\s+0$/m,
        );
        expect(evaluated.out).toContain('v2: worse than v1: lower bound');

        const status = await run('status');
        expect(status.out).toContain('Rollout policy (staged versions');
        expect(status.out).toMatch(/v2\s+rollback \(autopilot off\)\s+0\.500\s+v1\s+2\s+400/);

        const off = await run('autopilot', 'v2', 'off', '--why', 'manual watch');
        expect(off.out).toBe('v2 (1.1.0): autopilot off');
        const audit = await run('status');
        expect(audit.out).toMatch(/tester\s+autopilot\s+v2\s+autopilot off\s+manual watch/);
        expect((await run('autopilot', 'v2', 'sideways')).code).toBe(2);
      } finally {
        stop();
        expect(await exit).toBe(0);
      }

      // No server: the database directly, with the policy's defaults (5 devices needed).
      const direct = await run('evaluate', '--dry-run');
      expect(direct.code).toBe(0);
      expect(direct.out).toContain('Rollout policy (autopilot on):');
      expect(direct.out).toContain('too few devices (2 < 5)');
    },
    TIMEOUT,
  );
});
