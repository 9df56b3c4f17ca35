/**
 * Model bytes, content-addressed: the key is the sha256 the server computes itself, so a
 * stored blob can never disagree with its name, and uploading the same bytes twice is a no-op.
 *
 * The bytes are kept in fixed-size chunks (`model_chunks`, migration 12), so that neither a
 * download nor an upload ever holds a whole model in memory: a download reads the chunks its
 * range spans one at a time, as the client takes them; an upload hashes and writes chunk by
 * chunk, and only a short final transaction makes the model exist (its `models` row, which
 * names the chunks' blob). Chunks of an upload that failed or never finished belong to no
 * model, are never read, and are swept later.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Database, Queryable } from '../db/database.ts';

export const SHA256_PATTERN = /^[0-9a-f]{64}$/;

/** Chunk size of new uploads; each model records its own (`models.chunk_size`). */
export const MODEL_CHUNK_BYTES = 1024 * 1024;

/** How long an unfinished upload's chunks are left alone before a sweep deletes them. */
const ABANDONED_UPLOAD_MS = 24 * 3600 * 1000;

/** Bytes as an ArrayBuffer-backed view (what a Response body takes). */
export type ModelBytes = Uint8Array<ArrayBuffer>;

/** Where a stored model's bytes are. */
export interface ModelInfo {
  sha256: string;
  size: number;
  chunkSize: number;
  /** The key its chunks are stored under. */
  blob: string;
}

export async function modelInfo(db: Queryable, sha256: string): Promise<ModelInfo | undefined> {
  const { rows } = await db.query<{ size: number; chunk_size: number; blob: string }>(
    'select size, chunk_size, blob from models where sha256 = $1',
    [sha256],
  );
  const row = rows[0];
  return row && { sha256, size: row.size, chunkSize: row.chunk_size, blob: row.blob };
}

export async function modelSize(db: Queryable, sha256: string): Promise<number | undefined> {
  return (await modelInfo(db, sha256))?.size;
}

/** Both drivers hand out views of ordinary (non-shared) ArrayBuffers. */
function asModelBytes(bytes: Uint8Array): ModelBytes {
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length) as ModelBytes;
}

export async function readChunk(
  db: Queryable,
  info: ModelInfo,
  index: number,
): Promise<ModelBytes> {
  const { rows } = await db.query<{ bytes: Uint8Array }>(
    'select bytes from model_chunks where blob = $1 and idx = $2',
    [info.blob, index],
  );
  const bytes = rows[0]?.bytes;
  const expected = Math.min(info.chunkSize, info.size - index * info.chunkSize);
  if (!bytes || bytes.length !== expected)
    throw new Error(`model ${info.sha256}: chunk ${index} is missing or has the wrong length`);
  return asModelBytes(bytes);
}

/** The chunk indexes a byte range (inclusive end) spans. */
export function chunkSpan(info: ModelInfo, start: number, end: number): [number, number] {
  return [Math.floor(start / info.chunkSize), Math.floor(end / info.chunkSize)];
}

/**
 * The bytes `start..end` (inclusive) as a stream that reads one chunk when the consumer asks
 * for more: memory per download is one chunk (plus what the socket buffers).
 */
export function rangeStream(
  info: ModelInfo,
  start: number,
  end: number,
  chunk: (index: number) => Promise<ModelBytes>,
): ReadableStream<ModelBytes> {
  const [first, last] = chunkSpan(info, start, end);
  let index = first;
  return new ReadableStream<ModelBytes>(
    {
      async pull(controller) {
        if (index > last || end < start) {
          controller.close();
          return;
        }
        const bytes = await chunk(index);
        const base = index * info.chunkSize;
        const from = Math.max(start - base, 0);
        const to = Math.min(end - base + 1, bytes.length);
        index++;
        controller.enqueue(bytes.subarray(from, to));
        if (index > last) controller.close();
      },
    },
    { highWaterMark: 0 },
  );
}

/** A whole model in memory (publishing reads its metadata, training its weights). */
export async function modelBytes(db: Queryable, sha256: string): Promise<ModelBytes | undefined> {
  const info = await modelInfo(db, sha256);
  if (!info) return undefined;
  const out = new Uint8Array(info.size);
  const count = Math.ceil(info.size / info.chunkSize);
  for (let index = 0; index < count; index++)
    out.set(await readChunk(db, info, index), index * info.chunkSize);
  return out;
}

export class ModelTooLargeError extends Error {
  override readonly name = 'ModelTooLargeError';
}

export interface StoredModel {
  sha256: string;
  bytes: number;
  created: boolean;
}

/**
 * Stores the bytes `source` yields, chunk by chunk, each chunk committed on its own (an upload
 * never holds a transaction, or PGlite's one connection, for as long as the client takes).
 * The sha256 is computed while writing; `accept` sees it, the size and whether the model is
 * new in the final transaction (with `tx`, e.g. to record an audit entry), and throws to
 * refuse it (which rolls the model back). A refused or failed upload's chunks are deleted.
 * `limit` bounds the bytes; `chunkSize` (default {@link MODEL_CHUNK_BYTES}) is recorded with
 * the model, so models of different chunk sizes live side by side.
 */
export async function storeModel(
  db: Database,
  source: AsyncIterable<Uint8Array>,
  options: {
    limit: number;
    chunkSize?: number;
    accept?: (tx: Queryable, stored: StoredModel) => Promise<void> | void;
  },
): Promise<StoredModel> {
  const chunkSize = options.chunkSize ?? MODEL_CHUNK_BYTES;
  if (!(Number.isSafeInteger(chunkSize) && chunkSize > 0))
    throw new RangeError('the model chunk size must be a positive integer');
  await sweepAbandonedUploads(db);
  const blob = randomBytes(16).toString('hex');
  const hash = createHash('sha256');
  let pending = Buffer.allocUnsafe(chunkSize);
  let filled = 0;
  let index = 0;
  let total = 0;
  const flush = async () => {
    if (filled === 0) return;
    await db.query('insert into model_chunks (blob, idx, bytes) values ($1, $2, $3)', [
      blob,
      index,
      pending.subarray(0, filled),
    ]);
    index++;
    filled = 0;
    // The driver may still hold the last buffer (PGlite copies it, pg serialises it), so the
    // next chunk gets its own.
    pending = Buffer.allocUnsafe(chunkSize);
  };
  try {
    for await (const part of source) {
      total += part.length;
      if (total > options.limit)
        throw new ModelTooLargeError(`the body is larger than ${options.limit} bytes`);
      hash.update(part);
      let offset = 0;
      while (offset < part.length) {
        const take = Math.min(chunkSize - filled, part.length - offset);
        pending.set(part.subarray(offset, offset + take), filled);
        filled += take;
        offset += take;
        if (filled === chunkSize) await flush();
      }
    }
    await flush();
    const sha256 = hash.digest('hex');
    const created = await db.transaction(async (tx) => {
      const result = await tx.query(
        `insert into models (sha256, size, chunk_size, blob) values ($1, $2, $3, $4)
         on conflict (sha256) do nothing`,
        [sha256, total, chunkSize, blob],
      );
      const created = result.rowCount === 1;
      await options.accept?.(tx, { sha256, bytes: total, created });
      return created;
    });
    if (!created) await deleteBlob(db, blob);
    return { sha256, bytes: total, created };
  } catch (error) {
    await deleteBlob(db, blob).catch(() => {});
    throw error;
  }
}

/** Stores bytes already in memory (tests, the scheduler's trainer output, the CLI). */
export function putModel(
  db: Database,
  bytes: Uint8Array,
  accept?: (tx: Queryable, stored: StoredModel) => Promise<void> | void,
  chunkSize = MODEL_CHUNK_BYTES,
): Promise<StoredModel> {
  async function* once() {
    yield bytes;
  }
  return storeModel(db, once(), { limit: Number.MAX_SAFE_INTEGER, accept, chunkSize });
}

async function deleteBlob(db: Queryable, blob: string): Promise<void> {
  await db.query('delete from model_chunks where blob = $1', [blob]);
}

/** Deletes chunks of uploads that never became a model and were left a day ago. */
export async function sweepAbandonedUploads(db: Queryable, now = Date.now()): Promise<number> {
  const result = await db.query(
    `delete from model_chunks c where c.created_at < $1
       and not exists (select 1 from models m where m.blob = c.blob)`,
    [new Date(now - ABANDONED_UPLOAD_MS)],
  );
  return result.rowCount;
}

/** Every stored model, for export. */
export async function listModels(db: Queryable): Promise<ModelInfo[]> {
  const { rows } = await db.query<{
    sha256: string;
    size: number;
    chunk_size: number;
    blob: string;
  }>('select sha256, size, chunk_size, blob from models order by sha256');
  return rows.map((row) => ({
    sha256: row.sha256,
    size: row.size,
    chunkSize: row.chunk_size,
    blob: row.blob,
  }));
}

/**
 * Model bytes are immutable, so what was read can be kept: `info` for every model asked for,
 * and chunks up to `maxBytes` in total, least recently used out. A fleet downloading a new
 * version then costs one database read per chunk; `maxBytes: 0` keeps no chunks.
 */
export class ModelCache {
  private readonly infos = new Map<string, ModelInfo>();
  private readonly chunks = new Map<string, ModelBytes>();
  private total = 0;

  private readonly db: Database;
  private readonly maxBytes: number;
  constructor(db: Database, maxBytes: number) {
    this.db = db;
    this.maxBytes = maxBytes;
  }

  async info(sha256: string): Promise<ModelInfo | undefined> {
    const known = this.infos.get(sha256);
    if (known) return known;
    const info = await modelInfo(this.db, sha256);
    if (info) {
      if (this.infos.size >= 10_000) this.infos.clear();
      this.infos.set(sha256, info);
    }
    return info;
  }

  async chunk(info: ModelInfo, index: number): Promise<ModelBytes> {
    const key = `${info.blob}:${index}`;
    const hit = this.chunks.get(key);
    if (hit) {
      this.chunks.delete(key);
      this.chunks.set(key, hit);
      return hit;
    }
    const bytes = await readChunk(this.db, info, index);
    if (bytes.length <= this.maxBytes) {
      // A copy: the driver's buffer may be a view of a larger one.
      const own = new Uint8Array(bytes) as ModelBytes;
      this.chunks.set(key, own);
      this.total += own.length;
      for (const [old, value] of this.chunks) {
        if (this.total <= this.maxBytes) break;
        this.chunks.delete(old);
        this.total -= value.length;
      }
      return own;
    }
    return bytes;
  }
}
