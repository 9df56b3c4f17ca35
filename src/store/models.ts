import { sha256Hex } from '../sha256.ts';
import type { StoreContext } from './context.ts';
import { StoreError } from './errors.ts';
import { addUsage } from './meta.ts';
import type { ModelRecord } from './schema.ts';
import { inTransaction } from './tx.ts';

/**
 * Model bytes, content-addressed by sha256 (invariant 3: bytes that do not match the sha256
 * they are stored under are never stored, and are checked again when read).
 */
export class ModelRepository {
  private readonly ctx: StoreContext;
  constructor(ctx: StoreContext) {
    this.ctx = ctx;
  }

  /**
   * Stores bytes under `sha256` after checking that they hash to it (SHA_MISMATCH otherwise,
   * nothing stored). Storing bytes that are already there is a no-op.
   */
  async put(sha256: string, bytes: ArrayBuffer | ArrayBufferView): Promise<{ stored: boolean }> {
    const expected = sha256.toLowerCase();
    // Copy first, so a caller reusing or transferring its buffer cannot change what was hashed.
    const data = copyToArrayBuffer(bytes);
    // Hash before the transaction: awaiting crypto inside it would let it auto-commit.
    const actual = await sha256Hex(data);
    if (actual !== expected) {
      throw new StoreError('SHA_MISMATCH', `model bytes hash to ${actual}, not ${expected}`, {
        expected,
        actual,
      });
    }
    const size = data.byteLength + 64;
    return this.ctx.guardWrite(size, () =>
      inTransaction(this.ctx.db, ['models', 'meta'], 'readwrite', async (tx) => {
        const models = tx.objectStore('models');
        if ((await models.getKey(expected)) !== undefined) return { stored: false };
        const record: ModelRecord = { sha256: expected, data, storedAt: this.ctx.now(), size };
        await models.add(record);
        await addUsage(tx.objectStore('meta'), 'models', 1, size, this.ctx.limits.maxBytes);
        return { stored: true };
      }),
    );
  }

  /**
   * The bytes stored under `sha256`, or undefined. With `verify` (the default) they are hashed
   * again and SHA_MISMATCH is thrown if they changed on disk: corrupt bytes are never run.
   */
  async get(sha256: string, options: { verify?: boolean } = {}): Promise<ArrayBuffer | undefined> {
    const record = await this.ctx.db.get('models', sha256.toLowerCase());
    if (!record) return undefined;
    if (options.verify !== false) {
      const actual = await sha256Hex(record.data);
      if (actual !== record.sha256) {
        throw new StoreError('SHA_MISMATCH', `stored model ${record.sha256} is corrupt`, {
          expected: record.sha256,
          actual,
        });
      }
    }
    return record.data;
  }

  async has(sha256: string): Promise<boolean> {
    return (await this.ctx.db.getKey('models', sha256.toLowerCase())) !== undefined;
  }

  /** Every stored sha256. */
  async list(): Promise<string[]> {
    return this.ctx.db.getAllKeys('models');
  }

  /** Deletes bytes that no version (of any status) refers to; returns their sha256s. */
  async deleteUnused(): Promise<string[]> {
    return inTransaction(this.ctx.db, ['versions', 'models', 'meta'], 'readwrite', async (tx) => {
      const used = new Set(
        (await tx.objectStore('versions').getAll()).map((version) => version.modelSha256),
      );
      const deleted: string[] = [];
      let cursor = await tx.objectStore('models').openCursor();
      while (cursor) {
        if (!used.has(cursor.key)) {
          deleted.push(cursor.key);
          await addUsage(tx.objectStore('meta'), 'models', -1, -cursor.value.size);
          await cursor.delete();
        }
        cursor = await cursor.continue();
      }
      return deleted;
    });
  }
}

function copyToArrayBuffer(bytes: ArrayBuffer | ArrayBufferView): ArrayBuffer {
  if (bytes instanceof ArrayBuffer) return bytes.slice(0);
  const view = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return view.slice().buffer;
}
