/**
 * The server CLI, run in-process on a temporary data directory with the embedded database:
 * serve, then the admin commands over HTTP (finding the server and the admin token through
 * the data directory), then the same commands directly on the database once it is stopped,
 * then a restart that keeps the keys.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { makeTestBackbone } from '../../../models/testing.ts';
import { type CliIo, runCli } from '../../../server/cli/commands.ts';
import type { RunningServer } from '../../../server/start.ts';
import { call, makeWindow } from './support/http.ts';

const TIMEOUT = 120_000;

interface Captured {
  io: CliIo;
  out: string[];
  err: string[];
}

function capture(extra: Partial<CliIo> = {}): Captured {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: {
      out: (line) => out.push(line),
      err: (line) => err.push(line),
      env: { USER: 'tester' },
      ...extra,
    },
  };
}

/** Starts `serve` and resolves once it listens; `stop()` ends it and yields its exit code. */
async function serve(dir: string) {
  let stop!: () => void;
  const untilStopped = new Promise<void>((resolve) => {
    stop = resolve;
  });
  let listening!: (server: RunningServer) => void;
  const started = new Promise<RunningServer>((resolve) => {
    listening = resolve;
  });
  const output = capture({ untilStopped, onServing: (server) => listening(server) });
  const exit = runCli(['serve', '--port', '0', '--data', dir], output.io);
  const server = await Promise.race([
    started,
    exit.then((code) => {
      throw new Error(`serve exited with ${code}: ${output.err.join('\n')}`);
    }),
  ]);
  return {
    server,
    output,
    stop: async () => {
      stop();
      return exit;
    },
  };
}

describe('server CLI', () => {
  let dir: string;
  let modelPath: string;
  let versionDir: string;
  const backbone = makeTestBackbone({ seed: 11 });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'localfit-cli-'));
    modelPath = join(dir, 'model.onnx');
    await writeFile(modelPath, backbone.bytes);
    versionDir = join(dir, 'v2');
    const other = makeTestBackbone({ seed: 12 });
    await mkdir(versionDir);
    await writeFile(join(versionDir, 'model.onnx'), other.bytes);
    await writeFile(join(versionDir, 'version.json'), JSON.stringify({ semver: '2.0.0' }));
    await writeFile(
      join(versionDir, 'head.json'),
      JSON.stringify({ kind: 'logistic', weights: [0.1, 0.2] }),
    );
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test(
    'serve, then publish / ramp / promote / rollback / status against it',
    async () => {
      const running = await serve(dir);
      const { server, output } = running;
      try {
        const printed = output.out.join('\n');
        expect(printed).toContain(`listening on ${server.url}`);
        expect(printed).toContain(server.publicKey.raw);
        expect(printed).toContain(server.appKey);
        expect(printed).toContain(`generated now, saved in ${join(dir, 'admin-token')}`);
        expect((await readFile(join(dir, 'admin-token'), 'utf8')).trim()).toBe(server.adminToken);
        expect(JSON.parse(await readFile(join(dir, 'server.json'), 'utf8')).url).toBe(server.url);

        const run = async (...argv: string[]) => {
          const c = capture();
          const code = await runCli([...argv, '--data', dir], c.io);
          return { code, out: c.out.join('\n'), err: c.err.join('\n') };
        };
        const first = await run('publish', modelPath, '--weight', '0.1', '--why', 'first try');
        expect(first.err).toBe('');
        expect(first.out).toMatch(/^published v1 \(1\.0\.0\) as staged at weight 0\.1/);
        const second = await run('publish', versionDir, '--weight', '0.2');
        expect(second.out).toMatch(/^published v2 \(2\.0\.0\)/);
        const versions = (
          await call<{ versions: { id: string; head: unknown }[] }>(
            server,
            'GET',
            '/v1/admin/versions',
            { token: server.adminToken },
          )
        ).body.versions;
        expect(versions.find((v) => v.id === 'v2')?.head).toEqual({
          kind: 'logistic',
          weights: [0.1, 0.2],
        });

        // v1 holds buckets [0, 0.1) and v2 [0.1, 0.3): v1 cannot grow into v2's range.
        const overlap = await run('ramp', 'v1', '0.3');
        expect(overlap.code).toBe(1);
        expect(overlap.err).toContain('BUCKETS_OVERLAP');
        expect((await run('ramp', 'v2', '0.3', '--why', 'ramping')).out).toBe(
          'v2 (2.0.0) now staged at weight 0.3',
        );
        expect((await run('promote', '1.0.0')).out).toBe('v1 (1.0.0) is now production');
        const refused = await run('ramp', 'v2', '5');
        expect(refused.code).toBe(1);
        expect(refused.err).toContain('INVALID_BODY');
        const missing = await run('promote', 'v99');
        expect(missing.code).toBe(1);
        expect(missing.err).toContain('NOT_FOUND');

        // A device reports, so the status table has numbers in it.
        const device = (
          await call<{ token: string }>(server, 'POST', '/v1/register', {
            body: { appKey: server.appKey },
          })
        ).body;
        await call(server, 'POST', '/v1/metrics', {
          token: device.token,
          body: { idempotencyKey: 'cli-batch-0001', windows: [makeWindow('cli-w1', 'v1', 1)] },
        });

        const status = await run('status');
        expect(status.code).toBe(0);
        expect(status.out).toContain(`localfit status (${server.url})`);
        const lines = status.out.split('\n');
        const header = lines.find((line) => line.startsWith('version'))!;
        for (const column of ['devices', 'samples', 'logloss', 'accuracy', 'AUC', 'CTR', 'drift'])
          expect(header).toContain(column);
        const v1 = lines.find((line) => line.startsWith('v1 '))!;
        expect(v1).toContain('production');
        expect(v1).toContain('0.4000'); // logloss: 0.4 per sample
        expect(lines.find((line) => line.startsWith('v2 '))).toContain('staging');
        expect(status.out).toContain('Recent admin actions:');
        expect(status.out).toMatch(/tester\s+promote\s+v1/);
        expect(status.out).toMatch(/tester\s+ramp\s+v2\s+weight 0\.2 → 0\.3\s+ramping/);
        expect(status.out).toContain('first try');
      } finally {
        expect(await running.stop()).toBe(0);
      }
      expect(existsSync(join(dir, 'server.json'))).toBe(false);
      expect(existsSync(join(dir, 'lock'))).toBe(false);
    },
    TIMEOUT,
  );

  test(
    'without a running server, admin commands open the database directly',
    async () => {
      const c = capture();
      expect(await runCli(['rollback', 'v2', '--data', dir, '--why', 'offline'], c.io)).toBe(0);
      expect(c.out.join('\n')).toBe('v2 (2.0.0) is now rolled_back');
      const s = capture();
      expect(await runCli(['status', '--data', dir], s.io)).toBe(0);
      const out = s.out.join('\n');
      expect(out).toContain(`PGlite in ${join(dir, 'pglite')}`);
      expect(out).toMatch(/tester\s+rollback\s+v2\s+from staging\s+offline/);
    },
    TIMEOUT,
  );

  test(
    'a restart keeps the signing key and reads the admin token back',
    async () => {
      const first = (await readFile(join(dir, 'admin-token'), 'utf8')).trim();
      const running = await serve(dir);
      try {
        expect(running.server.adminTokenSource).toBe('file');
        expect(running.server.adminToken).toBe(first);
        expect(running.output.out.join('\n')).toContain(`in ${join(dir, 'admin-token')}`);
        const key = await call<{ raw: string }>(running.server, 'GET', '/v1/public-key');
        expect(key.body.raw).toBe(running.server.publicKey.raw);
        // A second server on the same PGlite directory is refused while this one runs.
        const clash = capture();
        expect(await runCli(['serve', '--port', '0', '--data', dir], clash.io)).toBe(1);
        expect(clash.err.join('\n')).toContain(`in use by process ${process.pid}`);
      } finally {
        await running.stop();
      }
    },
    TIMEOUT,
  );

  test('usage errors exit with 2', async () => {
    const c = capture();
    expect(await runCli(['publish', modelPath, '--data', dir], c.io)).toBe(2);
    expect(c.err.join('\n')).toContain('--weight');
    expect(await runCli(['frobnicate'], capture().io)).toBe(2);
    expect(await runCli(['ramp', 'v1', 'lots', '--data', dir], capture().io)).toBe(2);
    expect(await runCli(['status', '--bogus', 'x'], capture().io)).toBe(2);
  });
});
