// Manifest revisions stay monotonic across a database restore (server/manifest.ts,
// "Revisions"), on PGlite (its data directory copied and copied back) and on a real PostgreSQL
// server (pg_dump, then pg_restore --clean). A real device (the manifest client over HTTP) that
// saw revisions published after the backup refuses the restored one and keeps what it has; the
// first change after the restore is above everything it saw, and it follows again. With a
// plain counter the restored database would sign revisions below the device's for as many
// changes as the backup missed, and the device would refuse them all.
import { afterAll, describe, expect, test } from 'vitest';
import type { RunningServer } from '../../../server/start.ts';
import type { Manifest } from '../../../src/protocol/index.ts';
import { memoryManifestState } from '../../../src/rollout/manifest/client_options.ts';
import { admin, fakeModel, publishBytes } from './support/http.ts';
import { findPostgresBinaries } from './support/postgres_cluster.ts';
import {
  manifestDevice,
  pgliteStorage,
  postgresStorage,
  type Storage,
} from './support/storages.ts';

const TIMEOUT = 120_000;
const binaries = process.env.LOCALFIT_TEST_DATABASE_URL
  ? { dir: '' }
  : await findPostgresBinaries();

async function manifestOf(server: RunningServer): Promise<Manifest> {
  return (await fetch(`${server.url}/v1/manifest`)).json() as Promise<Manifest>;
}

function defineRevisionSuite(storage: Storage) {
  describe(`manifest revisions across a restore (${storage.name})`, { timeout: TIMEOUT }, () => {
    let server: RunningServer | undefined;
    const cleanups: (() => Promise<void>)[] = [];
    afterAll(async () => {
      await server?.close();
      for (const step of cleanups) await step();
      await storage.teardown();
    }, TIMEOUT);

    test('a device that saw later revisions follows the first change after the restore', async () => {
      const h = await storage.fresh();
      cleanups.push(() => h.close());
      server = await h.start();
      const keys = [server.publicKey.raw];
      // Every restart listens where the device was told to connect.
      const port = server.port;
      expect((await manifestOf(server)).revision).toBe(1); // the migration's first row
      const startedUs = Date.now() * 1000;
      await publishBytes(server, fakeModel(), 0.1);
      const backedUp = await manifestOf(server);
      // The revision is the database clock's microseconds (within clock granularity).
      expect(backedUp.revision).toBeGreaterThanOrEqual(startedUs - 5_000_000);
      expect(backedUp.revision).toBeLessThanOrEqual(Date.now() * 1000 + 5_000_000);
      await server.close();
      server = undefined;
      const restore = await h.backup();

      // After the backup: more changes, and a device follows them.
      server = await h.start({ port });
      const staged = await publishBytes(server, fakeModel(), 0.2);
      const ramp = await admin(server, 'POST', `/versions/${staged}/ramp`, { weight: 0.3 });
      expect(ramp.status).toBe(200);
      const device = await manifestDevice(server.url, keys, memoryManifestState());
      const seen = await device.client.start();
      expect(seen.kind).toBe('accepted');
      const held = device.client.state!;
      expect(held.revision).toBeGreaterThan(backedUp.revision);
      await server.close();
      server = undefined;

      // The database is restored from the backup: its state is the backed-up revision.
      await restore();
      server = await h.start({ port });
      const restored = await manifestOf(server);
      expect(restored.revision).toBe(backedUp.revision);
      expect(restored.versions).toHaveLength(1);
      // The device refuses it and keeps what it has.
      expect(await device.client.check()).toEqual({
        kind: 'refused',
        reason: `replayed_revision: ${backedUp.revision} < ${held.revision}`,
      });
      expect(device.client.state?.revision).toBe(held.revision);

      // One change on the restored database (with a counter: backedUp.revision + 1).
      await publishBytes(server, fakeModel(), 0.2);
      const next = await manifestOf(server);
      expect(next.revision).toBeGreaterThan(held.revision);
      expect(await device.client.check()).toEqual({ kind: 'accepted', revision: next.revision });
      expect(device.refused).toEqual([
        `replayed_revision: ${backedUp.revision} < ${held.revision}`,
      ]);
      device.client.stop();
    });
  });
}

defineRevisionSuite(pgliteStorage());
if ('missing' in binaries) {
  test(`manifest revisions on PostgreSQL NOT RUN: ${binaries.missing}`, () => {
    expect(process.env.LOCALFIT_REQUIRE_POSTGRES ?? '', 'PostgreSQL is required here').toBe('');
  });
} else defineRevisionSuite(postgresStorage(binaries.dir));
