/**
 * What a model transfer costs the server in memory, measured in a process of its own
 * (support/model_memory_child.ts) on PostgreSQL with a 48 MiB model in the default 1 MiB
 * chunks: the child's live memory after full collections (JS heap plus ArrayBuffers), sampled
 * at fixed points of the transfer (every 4 MiB sent or received, the transfer paused while the
 * child measures), so the figure neither counts the test's own client nor depends on timing.
 * An upload read whole, or a download read whole, would hold at least the model (48 MiB) at
 * the last samples; streamed, each holds a few chunks. Measured here: upload and download peak
 * growth 1–3 MiB over the warmed-up baseline (the bound is 16 MiB). The child's peak RSS is
 * logged, not asserted: it also counts garbage V8 has not yet collected.
 *
 * PostgreSQL only: PGlite keeps the WebAssembly heap it grew while writing (its own memory,
 * not a transfer's), and writing 48 MiB into it is slow enough to be a test of the machine.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ADMIN_TOKEN, APP_KEY, SIGNING_KEY } from './support/http.ts';
import type { ModelMemoryConfig, ModelMemoryMessage } from './support/model_memory_child.ts';
import {
  findPostgresBinaries,
  type PostgresCluster,
  startPostgresCluster,
} from './support/postgres_cluster.ts';

const MiB = 1024 * 1024;
const MODEL_BYTES = 48 * MiB + 12_345;
const SAMPLE_EVERY = 4 * MiB;
/** A third of the model: reading it whole would be three times this. */
const BOUND = 16 * MiB;
const CHILD = fileURLToPath(new URL('./support/model_memory_child.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const hex = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

type Sample = Extract<ModelMemoryMessage, { type: 'sample' }>;

class MeasuredServer {
  readonly url: string;
  private readonly child: ChildProcess;
  private readonly stderr: () => string;
  private constructor(url: string, child: ChildProcess, stderr: () => string) {
    this.url = url;
    this.child = child;
    this.stderr = stderr;
  }

  static async start(config: ModelMemoryConfig): Promise<MeasuredServer> {
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', CHILD], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      env: { ...process.env, LOCALFIT_MODEL_MEMORY: JSON.stringify(config) },
    });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-20_000);
    });
    try {
      const ready = await new Promise<ModelMemoryMessage>((resolve, reject) => {
        child.once('message', (message: ModelMemoryMessage) => resolve(message));
        child.once('exit', (code, signal) =>
          reject(new Error(`the server exited (${code ?? signal}) before listening:\n${stderr}`)),
        );
      });
      if (ready.type !== 'ready') throw new Error(`unexpected first message ${ready.type}`);
      return new MeasuredServer(ready.url, child, () => stderr);
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    }
  }

  /** The child's memory now, after full collections. */
  sample(): Promise<Sample> {
    return new Promise((resolve, reject) => {
      const onExit = () => reject(new Error(`the server exited:\n${this.stderr()}`));
      this.child.once('exit', onExit);
      this.child.once('message', (message: ModelMemoryMessage) => {
        this.child.off('exit', onExit);
        if (message.type === 'sample') resolve(message);
        else reject(new Error(`unexpected message ${message.type}`));
      });
      this.child.send({ type: 'sample' });
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.disconnect();
    await exited;
  }
}

/**
 * `bytes` as a streamed upload in 64 KiB pieces; `at` runs (and is awaited, so the upload
 * waits) each time another `every` bytes have been handed over.
 */
function measuredBody(
  bytes: Uint8Array,
  every: number,
  at: () => Promise<void>,
): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (offset > 0 && offset % every === 0) await at();
      if (offset >= bytes.length) {
        controller.close();
        return;
      }
      controller.enqueue(new Uint8Array(bytes.subarray(offset, offset + 64 * 1024)));
      offset += 64 * 1024;
    },
  });
}

function upload(server: MeasuredServer, bytes: Uint8Array, at: () => Promise<void>) {
  return fetch(`${server.url}/v1/admin/models/${hex(bytes)}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/octet-stream' },
    body: measuredBody(bytes, SAMPLE_EVERY, at),
    duplex: 'half',
  } as RequestInit);
}

/** Downloads `sha256`, awaiting `at` after every `every` bytes; its size and hash. */
async function download(
  server: MeasuredServer,
  sha256: string,
  at: () => Promise<void>,
): Promise<{ bytes: number; sha256: string }> {
  const response = await fetch(`${server.url}/v1/models/${sha256}`);
  expect(response.status).toBe(200);
  const reader = response.body!.getReader();
  const hash = createHash('sha256');
  let received = 0;
  let next = SAMPLE_EVERY;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    hash.update(value);
    received += value.length;
    if (received >= next) {
      next += SAMPLE_EVERY;
      await at();
    }
  }
  return { bytes: received, sha256: hash.digest('hex') };
}

const binaries = process.env.LOCALFIT_TEST_DATABASE_URL
  ? { dir: '' }
  : await findPostgresBinaries();
if ('missing' in binaries) {
  test(`PostgreSQL model memory NOT RUN: ${binaries.missing}`, () => {
    expect(process.env.LOCALFIT_REQUIRE_POSTGRES ?? '', 'PostgreSQL is required here').toBe('');
  });
} else {
  describe('model transfer memory, a server in its own process on PostgreSQL', {
    timeout: 600_000,
  }, () => {
    let cluster: PostgresCluster | undefined;
    let server: MeasuredServer;
    let base: Sample;
    const model = new Uint8Array(randomBytes(MODEL_BYTES));
    const digest = hex(model);
    const mib = (n: number) => (n / MiB).toFixed(2);

    beforeAll(async () => {
      cluster = await startPostgresCluster(binaries.dir);
      const databaseUrl = await cluster.createDatabase();
      server = await MeasuredServer.start({
        databaseUrl,
        signingKey: SIGNING_KEY,
        adminToken: ADMIN_TOKEN,
        appKey: APP_KEY,
        maxModelBytes: 64 * MiB,
      });
      // Warm up with an 8 MiB model sent and read the same way, so that what grows once and
      // stays (the driver's buffers, lazily compiled code) is in the baseline.
      const warm = new Uint8Array(randomBytes(8 * MiB));
      const warmed = await upload(server, warm, async () => {});
      expect(warmed.status).toBe(201);
      expect((await download(server, hex(warm), async () => {})).sha256).toBe(hex(warm));
      base = await server.sample();
    }, 600_000);
    afterAll(async () => {
      await server?.stop();
      await cluster?.stop();
    }, 120_000);

    test('a 48 MiB upload, streamed: the server holds a few chunks, not the model', async () => {
      const samples: Sample[] = [];
      const response = await upload(server, model, async () => {
        samples.push(await server.sample());
      });
      expect(response.status).toBe(201);
      expect(await response.json()).toMatchObject({ sha256: digest, bytes: model.length });
      samples.push(await server.sample());
      // One sample per 4 MiB handed over, and one after: the transfer was seen throughout.
      expect(samples.length).toBe(Math.floor(model.length / SAMPLE_EVERY) + 1);
      const peak = Math.max(...samples.map((s) => s.live - base.live));
      const rss = Math.max(...samples.map((s) => s.maxRss)) - base.rss;
      console.log(
        `[model memory] upload of ${mib(model.length)} MiB: peak live growth ${mib(peak)} MiB over ${samples.length} samples (peak RSS ${mib(rss)} MiB above the baseline RSS)`,
      );
      expect(peak).toBeLessThan(BOUND);
    });

    test('a 48 MiB download, read slowly: the server holds a few chunks, not the model', async () => {
      const before = await server.sample();
      const samples: Sample[] = [];
      const got = await download(server, digest, async () => {
        samples.push(await server.sample());
      });
      expect(got).toEqual({ bytes: model.length, sha256: digest });
      expect(samples.length).toBe(Math.floor(model.length / SAMPLE_EVERY));
      const peak = Math.max(...samples.map((s) => s.live - base.live));
      const rss = Math.max(...samples.map((s) => s.maxRss)) - before.maxRss;
      console.log(
        `[model memory] download of ${mib(model.length)} MiB: peak live growth ${mib(peak)} MiB over ${samples.length} samples (peak RSS grew ${mib(rss)} MiB)`,
      );
      expect(peak).toBeLessThan(BOUND);
    });
  });
}
