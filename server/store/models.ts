/**
 * Model bytes, content-addressed: the key is the sha256 the server computes itself, so a
 * stored blob can never disagree with its name, and uploading the same bytes twice is a no-op.
 */
import type { Database, Queryable } from '../db/database.ts';
import { sha256Hex } from '../tokens.ts';

export const SHA256_PATTERN = /^[0-9a-f]{64}$/;

export async function putModel(
  db: Queryable,
  bytes: Uint8Array,
): Promise<{ sha256: string; bytes: number; created: boolean }> {
  const sha256 = sha256Hex(bytes);
  const result = await db.query(
    `insert into models (sha256, bytes, size) values ($1, $2, $3)
     on conflict (sha256) do nothing`,
    [sha256, bytes, bytes.length],
  );
  return { sha256, bytes: bytes.length, created: result.rowCount === 1 };
}

export async function modelSize(db: Database, sha256: string): Promise<number | undefined> {
  const { rows } = await db.query<{ size: number }>('select size from models where sha256 = $1', [
    sha256,
  ]);
  return rows[0]?.size;
}

/** Bytes as an ArrayBuffer-backed view (what a Response body takes). */
export type ModelBytes = Uint8Array<ArrayBuffer>;

export async function modelBytes(db: Queryable, sha256: string): Promise<ModelBytes | undefined> {
  const { rows } = await db.query<{ bytes: Uint8Array }>(
    'select bytes from models where sha256 = $1',
    [sha256],
  );
  const bytes = rows[0]?.bytes;
  // Both drivers hand out views of ordinary (non-shared) ArrayBuffers.
  return bytes === undefined
    ? undefined
    : (new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length) as ModelBytes);
}

/**
 * Model bytes are immutable, so they can be kept in memory once read: a fleet downloading a
 * new version then costs one database read. Bounded by total bytes, least recently used out.
 */
export class ModelCache {
  private readonly entries = new Map<string, ModelBytes>();
  private total = 0;

  private readonly db: Database;
  private readonly maxBytes: number;
  constructor(db: Database, maxBytes: number) {
    this.db = db;
    this.maxBytes = maxBytes;
  }

  async get(sha256: string): Promise<ModelBytes | undefined> {
    const hit = this.entries.get(sha256);
    if (hit) {
      this.entries.delete(sha256);
      this.entries.set(sha256, hit);
      return hit;
    }
    const bytes = await modelBytes(this.db, sha256);
    if (bytes && bytes.length <= this.maxBytes) {
      this.entries.set(sha256, bytes);
      this.total += bytes.length;
      for (const [key, value] of this.entries) {
        if (this.total <= this.maxBytes) break;
        this.entries.delete(key);
        this.total -= value.length;
      }
    }
    return bytes;
  }
}
