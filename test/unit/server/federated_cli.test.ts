/**
 * `npm run server -- federated open|status|close`, in-process on a temporary data directory
 * (PGlite): against a running server over HTTP (devices contributing for real), then directly
 * on the database once the server is stopped, with the budget from the environment.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type CliIo, runCli } from '../../../server/cli/commands.ts';
import type { RunningServer } from '../../../server/start.ts';
import { headToJson } from '../../../src/learn/head_json.ts';
import { createHead } from '../../../src/learn/index.ts';
import { CONTRIBUTIONS_PATH } from '../../../src/protocol/index.ts';
import { APP_KEY, call, FEATURE_SPEC, fakeModel, register } from './support/http.ts';

const TIMEOUT = 120_000;
const ENV = { USER: 'tester', LOCALFIT_APP_KEY: APP_KEY };

async function run(dir: string, argv: string[], env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    out: (line) => out.push(line),
    err: (line) => err.push(line),
    env: { ...ENV, ...env },
  };
  const code = await runCli([...argv, '--data', dir], io);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

async function serve(dir: string) {
  let stop!: () => void;
  const untilStopped = new Promise<void>((resolve) => {
    stop = resolve;
  });
  let listening!: (server: RunningServer) => void;
  const started = new Promise<RunningServer>((resolve) => {
    listening = resolve;
  });
  const err: string[] = [];
  const exit = runCli(['serve', '--port', '0', '--data', dir, '--dp-epsilon', '6'], {
    out: () => {},
    err: (line) => err.push(line),
    env: ENV,
    untilStopped,
    onServing: (server) => listening(server),
  });
  const server = await Promise.race([
    started,
    exit.then((code) => {
      throw new Error(`serve exited with ${code}: ${err.join('\n')}`);
    }),
  ]);
  return {
    server,
    stop: async () => {
      stop();
      return exit;
    },
  };
}

describe('federated CLI', () => {
  let dir: string;
  let versionDir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'localfit-federated-cli-'));
    versionDir = join(dir, 'v1');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(versionDir);
    await writeFile(join(versionDir, 'model.onnx'), fakeModel());
    await writeFile(join(versionDir, 'feature_spec.json'), JSON.stringify(FEATURE_SPEC));
    const head = createHead({ task: 'binary', dim: 2, optimizer: { kind: 'sgd' } }).exportState();
    await writeFile(join(versionDir, 'head.json'), JSON.stringify(headToJson(head)));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test(
    'open, status and close against a running server, then directly on the database',
    async () => {
      const running = await serve(dir);
      const { server } = running;
      try {
        expect((await run(dir, ['publish', versionDir, '--weight', '0.1'])).code).toBe(0);
        expect((await run(dir, ['promote', 'v1'])).code).toBe(0);
        const devices = [await register(server), await register(server), await register(server)];

        const usage = await run(dir, ['federated', 'open', 'v1', '--clip', '1']);
        expect(usage.code).toBe(2);
        expect(usage.err).toContain('--min-clients');
        // ε of one round at z = 0.3 is far beyond the server's budget of 6 (serve --dp-epsilon).
        const greedy = await run(dir, [
          'federated',
          'open',
          'v1',
          '--clip',
          '1',
          '--min-clients',
          '2',
          '--noise-multiplier',
          '0.3',
        ]);
        expect(greedy.code).toBe(1);
        expect(greedy.err).toContain('BUDGET_EXCEEDED');
        expect(greedy.err).toContain('budget ε = 6');

        const opened = await run(dir, [
          'federated',
          'open',
          'v1',
          '--clip',
          '1',
          '--min-clients',
          '2',
          '--min-outcomes',
          '5',
          '--noise-multiplier',
          '3',
          '--duration',
          '2h',
          '--why',
          'first round',
        ]);
        expect(opened.err).toBe('');
        expect(opened.out).toMatch(/^opened r1 \(open\) on v1: 0\/2 contributions, clip 1/);

        for (const [i, device] of devices.slice(0, 2).entries()) {
          const reply = await call(server, 'POST', CONTRIBUTIONS_PATH, {
            token: device.token,
            body: {
              roundId: 'r1',
              baseVersionId: 'v1',
              outcomes: 10,
              delta: { weights: [0.1 * (i + 1), 0], intercepts: [0] },
            },
          });
          expect(reply.status).toBe(201);
        }
        const status = await run(dir, ['federated', 'status']);
        expect(status.out).toContain('Privacy budget: ε 0.000 of 6 spent at δ 0.00001 over 0');
        expect(status.out).toMatch(/r1\s+open\s+v1\s.*\s2\s+2\s+1\s+3\s+1\s+—/);

        const closed = await run(dir, ['federated', 'close', 'r1', '--why', 'two is enough']);
        expect(closed.err).toBe('');
        expect(closed.out).toMatch(
          /^r1 aggregated 2 contributions into v2, staged \(ε [\d.]+ at δ 0.00001/,
        );
        const after = await run(dir, ['federated', 'status']);
        expect(after.out).toMatch(
          /Privacy budget: ε \d\.\d{3} of 6 spent .* over 1 aggregated round$/m,
        );
        expect(after.out).toMatch(/r1\s+aggregated\s+v1\s.*made v2/);
        const audit = await run(dir, ['status']);
        expect(audit.out).toContain('federated_aggregate');
        expect(audit.out).toContain('round r1: 2 contributions');

        const second = await run(dir, [
          'federated',
          'open',
          'v1',
          '--clip',
          '1',
          '--min-clients',
          '5',
          '--noise-multiplier',
          '3',
        ]);
        expect(second.out).toMatch(/^opened r2 /);
      } finally {
        expect(await running.stop()).toBe(0);
      }

      // No server: the CLI opens the database itself, with the budget from the environment.
      const direct = await run(dir, ['federated', 'status'], { LOCALFIT_DP_EPSILON: '6' });
      expect(direct.out).toContain('PGlite in');
      expect(direct.out).toMatch(/r2\s+open\s+v1/);
      expect(direct.out).toContain('of 6 spent');
      const tooFew = await run(dir, ['federated', 'close', 'r2']);
      expect(tooFew.code).toBe(1);
      expect(tooFew.err).toContain('TOO_FEW_CONTRIBUTIONS');
      const cancelled = await run(dir, ['federated', 'close', 'r2', '--cancel']);
      expect(cancelled.out).toMatch(/^closed r2 \(closed\) .*\(cancelled\)$/);
      const badEnv = await run(dir, ['federated', 'status'], { LOCALFIT_DP_DELTA: '2' });
      expect(badEnv.code).toBe(2);
      expect(badEnv.err).toContain('δ must lie in (0, 1)');
    },
    TIMEOUT,
  );
});
