/**
 * Model bytes in chunks (server/store/models.ts, migration 12), over real HTTP on 127.0.0.1,
 * on PGlite and PostgreSQL, with small models and small chunks (a 2.5 MiB model in 256 KiB
 * chunks spans 11 of them), so that nothing here waits on writing tens of MiB into PGlite on
 * a loaded machine: an upload streamed without a length is stored as exactly its chunks; a
 * download and every range across chunk boundaries return exact bytes; refused uploads (wrong
 * name, too large) leave no chunks; with a model base URL the signed manifest sends devices to
 * another origin (a static file server filled by export-models, standing in for a CDN), where
 * the device's own check (src/rollout/manifest/model_download.ts) accepts the right bytes and
 * refuses wrong, short or long ones; models stored before chunks existed are moved into chunks
 * by the migration. What a transfer holds in memory is measured in a child process, on
 * PostgreSQL, with a 48 MiB model: model_memory.test.ts.
 */
import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { exportModels } from '../../../server/cli/export_models.ts';
import type { Database } from '../../../server/db/database.ts';
import { MIGRATIONS, migrate } from '../../../server/db/migrations.ts';
import { openPglite } from '../../../server/db/pglite.ts';
import { type RunningServer, startServer } from '../../../server/start.ts';
import { MODEL_CHUNK_BYTES, modelBytes } from '../../../server/store/models.ts';
import type { Manifest } from '../../../src/protocol/index.ts';
import { SIGNATURE_HEADER } from '../../../src/protocol/index.ts';
import { downloadModel, refusalCode } from '../../../src/rollout/manifest/model_download.ts';
import { type Backend, pgliteBackend, postgresBackend } from './support/backends.ts';
import { ADMIN_TOKEN, APP_KEY, admin, FEATURE_SPEC, SIGNING_KEY } from './support/http.ts';
import { findPostgresBinaries } from './support/postgres_cluster.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
/** Small chunks, so a small model spans many and every boundary case is cheap. */
const CHUNK = 256 * KiB;
const HOOK_TIMEOUT = 120_000;

const hex = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** `bytes` as a streamed request body (no Content-Length) in 64 KiB pieces. */
function streamedBody(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= bytes.length) {
        controller.close();
        return;
      }
      controller.enqueue(new Uint8Array(bytes.subarray(offset, offset + 64 * KiB)));
      offset += 64 * KiB;
    },
  });
}

function put(server: RunningServer, sha256: string, body: Uint8Array | ReadableStream<Uint8Array>) {
  return fetch(`${server.url}/v1/admin/models/${sha256}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/octet-stream' },
    body,
    ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
  } as RequestInit);
}

/**
 * A stand-in for a CDN or bucket: serves `<dir>/<name>` at `/models/<name>` on an origin of
 * its own, the way export-models laid them out, with the headers a CDN would keep.
 */
async function staticFiles(dir: string): Promise<{ base: string; close: () => Promise<void> }> {
  const server: Server = createServer((request, response) => {
    const name = /^\/models\/([0-9a-f]{64})$/.exec(request.url ?? '')?.[1];
    if (!name) {
      response.writeHead(404).end();
      return;
    }
    readFile(join(dir, name)).then(
      (bytes) => {
        response.writeHead(200, {
          'content-type': 'application/octet-stream',
          'content-length': bytes.length,
          'cache-control': 'public, max-age=31536000, immutable',
        });
        response.end(bytes);
      },
      () => response.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}/models`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function suite(backend: Backend) {
  describe(`model bytes in chunks on ${backend.name}`, { timeout: 120_000 }, () => {
    let db: Database;
    let server: RunningServer;
    const model = new Uint8Array(randomBytes(10 * CHUNK + 12_345));
    const digest = hex(model);
    const chunks = Math.ceil(model.length / CHUNK);
    beforeAll(async () => {
      await backend.setup();
      db = await backend.freshDatabase();
      server = await startServer({
        database: db,
        port: 0,
        adminToken: ADMIN_TOKEN,
        signingKey: SIGNING_KEY,
        appKey: APP_KEY,
        heartbeatMs: 60_000,
        pollMs: 60_000,
        modelCacheBytes: 0,
        modelChunkBytes: CHUNK,
        maxModelBytes: 3 * MiB,
      });
    }, HOOK_TIMEOUT);
    afterAll(async () => {
      await server?.close();
      await db?.close();
      await backend.teardown();
    }, HOOK_TIMEOUT);

    test('a streamed upload is stored as its chunks and downloads as the same bytes', async () => {
      const response = await put(server, digest, streamedBody(model));
      expect(response.status).toBe(201);
      expect(await response.json()).toMatchObject({ sha256: digest, bytes: model.length });
      const { rows } = await db.query<{ idx: number; n: number }>(
        `select c.idx, length(c.bytes) as n from model_chunks c join models m on m.blob = c.blob
         where m.sha256 = $1 order by c.idx`,
        [digest],
      );
      expect(rows.map((r) => r.idx)).toEqual([...Array(chunks).keys()]);
      expect(rows.map((r) => Number(r.n))).toEqual([
        ...Array(chunks - 1).fill(CHUNK),
        model.length - (chunks - 1) * CHUNK,
      ]);
      const download = await fetch(`${server.url}/v1/models/${digest}`);
      expect(download.status).toBe(200);
      expect(download.headers.get('content-length')).toBe(String(model.length));
      expect(download.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(download.headers.get('etag')).toBe(`"${digest}"`);
      const bytes = new Uint8Array(await download.arrayBuffer());
      expect(bytes.length).toBe(model.length);
      expect(hex(bytes)).toBe(digest);
    });

    test('ranges across chunk boundaries return exact bytes', async () => {
      const size = model.length;
      const cases: [string, number, number][] = [
        ['bytes=0-0', 0, 0],
        [`bytes=${CHUNK - 1}-${CHUNK}`, CHUNK - 1, CHUNK],
        [`bytes=${CHUNK}-${2 * CHUNK - 1}`, CHUNK, 2 * CHUNK - 1],
        [`bytes=${CHUNK - 10}-${3 * CHUNK + 10}`, CHUNK - 10, 3 * CHUNK + 10],
        [`bytes=${5 * CHUNK}-${5 * CHUNK}`, 5 * CHUNK, 5 * CHUNK],
        [`bytes=${10 * CHUNK - 3}-`, 10 * CHUNK - 3, size - 1],
        [`bytes=${10 * CHUNK}-${size + 1000}`, 10 * CHUNK, size - 1],
        ['bytes=-12346', size - 12_346, size - 1],
        ['bytes=7-', 7, size - 1],
      ];
      for (const [range, start, end] of cases) {
        const response = await fetch(`${server.url}/v1/models/${digest}`, { headers: { range } });
        expect(response.status, range).toBe(206);
        expect(response.headers.get('content-range'), range).toBe(`bytes ${start}-${end}/${size}`);
        expect(response.headers.get('content-length'), range).toBe(String(end - start + 1));
        const part = new Uint8Array(await response.arrayBuffer());
        expect(part.length, range).toBe(end - start + 1);
        expect(Buffer.from(part).equals(Buffer.from(model.subarray(start, end + 1))), range).toBe(
          true,
        );
      }
      const outside = await fetch(`${server.url}/v1/models/${digest}`, {
        headers: { range: `bytes=${size}-` },
      });
      expect(outside.status).toBe(416);
      expect(outside.headers.get('content-range')).toBe(`bytes */${size}`);
      await outside.arrayBuffer();
      const cached = await fetch(`${server.url}/v1/models/${digest}`, {
        headers: { 'if-none-match': `"${digest}"` },
      });
      expect(cached.status).toBe(304);
    });

    test('refused uploads (wrong name, too large) leave no chunks behind', async () => {
      const count = async () =>
        (await db.query<{ n: number }>('select count(*)::int as n from model_chunks')).rows[0].n;
      const before = await count();
      expect(before).toBe(chunks);
      const bytes = new Uint8Array(randomBytes(2 * CHUNK + 5));
      const wrong = await put(server, 'b'.repeat(64), streamedBody(bytes));
      expect(wrong.status).toBe(422);
      expect(((await wrong.json()) as { error: { code: string } }).error.code).toBe(
        'SHA256_MISMATCH',
      );
      // No Content-Length (streamed), so the limit is found while writing, after chunks of it
      // were stored: those go too.
      const big = new Uint8Array(randomBytes(3 * MiB + 1));
      const tooLarge = await put(server, hex(big), streamedBody(big));
      expect(tooLarge.status).toBe(413);
      expect(((await tooLarge.json()) as { error: { code: string } }).error.code).toBe(
        'BODY_TOO_LARGE',
      );
      expect(await count()).toBe(before);
      // The same bytes again: 200, nothing new stored.
      const again = await put(server, digest, model);
      expect(again.status).toBe(200);
      expect(await count()).toBe(before);
    });

    test('behind a model base URL on another origin, the device checks what it is served', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'localfit-cdn-'));
      const files = await staticFiles(dir);
      const behind = await startServer({
        database: db,
        port: 0,
        adminToken: ADMIN_TOKEN,
        signingKey: SIGNING_KEY,
        appKey: APP_KEY,
        heartbeatMs: 60_000,
        pollMs: 60_000,
        modelBaseUrl: `${files.base}/`,
      });
      try {
        const published = await admin(server, 'POST', '/versions', {
          model: { sha256: digest },
          featureSpec: FEATURE_SPEC,
          weight: 0,
        });
        expect(published.status).toBe(201);
        const manifestUrl = `${behind.url}/v1/manifest`;
        const response = await fetch(manifestUrl);
        const signed = new Uint8Array(await response.arrayBuffer());
        const signature = Buffer.from(response.headers.get(SIGNATURE_HEADER)!, 'base64');
        expect(verify(null, signed, createPublicKey(behind.publicKey.spki), signature)).toBe(true);
        const manifest = JSON.parse(Buffer.from(signed).toString('utf8')) as Manifest;
        const ref = manifest.versions[0].model;
        expect(ref).toEqual({
          sha256: digest,
          url: `${files.base}/${digest}`,
          bytes: model.length,
        });
        expect(new URL(ref.url, manifestUrl).origin).not.toBe(new URL(manifestUrl).origin);
        // The server without a base URL still names its own path.
        const own = (await (await fetch(`${server.url}/v1/manifest`)).json()) as Manifest;
        expect(own.versions[0].model.url).toBe(`/v1/models/${digest}`);

        const fetchModel = () => downloadModel(manifestUrl, ref, { maxBytes: 4 * MiB });
        const refused = async () => {
          try {
            await fetchModel();
          } catch (error) {
            return refusalCode(error);
          }
          return 'accepted';
        };
        // Not exported yet: the CDN has nothing.
        expect(await refused()).toBe('http_404');
        const exported = await exportModels(db, dir);
        expect(exported).toEqual([{ sha256: digest, bytes: model.length, written: true }]);
        const bytes = await fetchModel();
        expect(Buffer.from(bytes).equals(Buffer.from(model))).toBe(true);
        // A CDN serving other bytes of the same length, fewer, or more: each refused.
        const flipped = new Uint8Array(model);
        flipped[CHUNK + 3] ^= 1;
        await writeFile(join(dir, digest), flipped);
        expect(await refused()).toBe('sha256_mismatch');
        await writeFile(join(dir, digest), model.subarray(0, model.length - 1));
        expect(await refused()).toBe('truncated');
        await writeFile(join(dir, digest), Buffer.concat([model, Buffer.from([0])]));
        expect(await refused()).toBe('too_large');
        // export-models finds the file wrong and writes it again; then it is accepted.
        expect(await exportModels(db, dir)).toEqual([
          { sha256: digest, bytes: model.length, written: true },
        ]);
        expect(hex(await fetchModel())).toBe(digest);
      } finally {
        await behind.close();
        await files.close();
        await rm(dir, { recursive: true, force: true });
      }
      await expect(
        startServer({ database: db, port: 0, signingKey: SIGNING_KEY, modelBaseUrl: 'cdn/x?y' }),
      ).rejects.toThrow(RangeError);
    });

    test('export-models writes every model under its sha256, once', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'localfit-export-'));
      try {
        const first = await exportModels(db, dir);
        expect(first.map((o) => o.sha256)).toEqual([digest]);
        expect(first.every((o) => o.written)).toBe(true);
        expect(await readdir(dir)).toEqual([digest]);
        expect(hex(await readFile(join(dir, digest)))).toBe(digest);
        const second = await exportModels(db, dir);
        expect(second.some((o) => o.written)).toBe(false);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
}

suite(pgliteBackend());

const binaries = process.env.LOCALFIT_TEST_DATABASE_URL
  ? { dir: '' }
  : await findPostgresBinaries();
if ('missing' in binaries) {
  test(`PostgreSQL model bytes NOT RUN: ${binaries.missing}`, () => {
    expect(process.env.LOCALFIT_REQUIRE_POSTGRES ?? '', 'PostgreSQL is required here').toBe('');
  });
} else suite(postgresBackend(binaries.dir));

test('migration 12 moves models stored whole into 1 MiB chunks', async () => {
  const db = await openPglite();
  try {
    await migrate(
      db,
      MIGRATIONS.filter((m) => m.id < 12),
    );
    const old = new Uint8Array(randomBytes(2 * MODEL_CHUNK_BYTES + 777));
    await db.query('insert into models (sha256, bytes, size) values ($1, $2, $3)', [
      hex(old),
      old,
      old.length,
    ]);
    expect(await migrate(db)).toContain(12);
    const back = await modelBytes(db, hex(old));
    expect(back && Buffer.from(back).equals(Buffer.from(old))).toBe(true);
    const { rows } = await db.query<{ n: number }>('select count(*)::int as n from model_chunks');
    expect(rows[0].n).toBe(3);
  } finally {
    await db.close();
  }
}, 120_000);
