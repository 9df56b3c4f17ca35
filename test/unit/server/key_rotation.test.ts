// Rotating the manifest signing key end to end, against the real server on PGlite in a data
// directory and the real device-side manifest client over HTTP: `rotate-key prepare` publishes
// the next key while the old one signs; after `rotate-key activate` and a restart, a device
// built with both keys accepts the new signatures and one with only the old key refuses them,
// saying why.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { runCli } from '../../../server/cli/commands.ts';
import { type RunningServer, startServer } from '../../../server/start.ts';
import { ManifestClient } from '../../../src/rollout/manifest/manifest_client.ts';
import { importManifestKeys } from '../../../src/rollout/manifest/signature.ts';

describe('signing key rotation (PGlite data dir, real HTTP)', () => {
  let dir: string | undefined;
  let server: RunningServer | undefined;
  afterAll(async () => {
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const start = async () => {
    server = await startServer({ port: 0, dataDir: dir, logError: () => {} });
    return server;
  };
  const stop = async () => {
    await server?.close();
    server = undefined;
  };
  const cli = async (...argv: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli([...argv, '--data', dir!], {
      out: (l) => out.push(l),
      err: (l) => err.push(l),
      env: {},
    });
    return { code, out: out.join('\n'), err: err.join('\n') };
  };
  const device = async (url: string, keys: string[]) => {
    const refused: string[] = [];
    const client = new ManifestClient({
      url,
      verifier: await importManifestKeys(keys),
      onManifest: () => {},
      onRefused: (reason) => refused.push(reason),
      events: false,
    });
    const outcome = await client.start();
    client.stop();
    return { outcome, refused };
  };

  test('prepare, ship both keys, activate: both-key devices follow, old-key devices refuse clearly', async () => {
    dir = await mkdtemp(join(tmpdir(), 'localfit-rotate-'));
    const first = await start();
    const oldKey = first.publicKey;
    expect(oldKey.next).toBeUndefined();
    expect((await device(first.url, [oldKey.raw])).outcome.kind).toBe('accepted');
    await stop();

    expect(await cli('rotate-key', 'activate')).toMatchObject({ code: 2 });
    const prepared = await cli('rotate-key', 'prepare');
    expect(prepared.code).toBe(0);
    const second = await start();
    const next = second.publicKey.next!;
    expect(next.raw).not.toBe(oldKey.raw);
    expect(prepared.out).toContain(next.raw);
    expect(second.publicKey.raw).toBe(oldKey.raw);
    // Still signed by the old key: old builds and new builds both follow.
    expect((await device(second.url, [oldKey.raw])).outcome.kind).toBe('accepted');
    expect((await device(second.url, [oldKey.raw, next.raw])).outcome.kind).toBe('accepted');
    await stop();

    const activated = await cli('rotate-key', 'activate');
    expect(activated.code).toBe(0);
    const third = await start();
    expect(third.publicKey.raw).toBe(next.raw);
    expect(third.publicKey.next).toBeUndefined();
    const manifest = await fetch(`${third.url}/v1/manifest`);
    expect(manifest.headers.get('localfit-signature-key')).toBe(next.keyId);
    await manifest.body?.cancel();

    expect((await device(third.url, [oldKey.raw, next.raw])).outcome.kind).toBe('accepted');
    const old = await device(third.url, [oldKey.raw]);
    expect(old.outcome.kind).toBe('refused');
    expect(old.refused).toHaveLength(1);
    expect(old.refused[0]).toMatch(
      new RegExp(
        `^unknown_key: signed by key ${escapeRegExp(next.keyId)}, this app has ${escapeRegExp(oldKey.keyId)} \\(`,
      ),
    );
  }, 120_000);
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
