/**
 * `export-models <dir>`: every stored model written to `<dir>/<sha256>`, for upload to a bucket
 * or object store that the manifest's `--model-base-url` points at (server/README.md "Model
 * bytes and a CDN"). Files are streamed chunk by chunk, hashed on the way, and renamed into place
 * only when the hash matches, so a file under its name is always the right bytes; files
 * already there with the right size and hash are left alone, so a repeated export only
 * writes what is new.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Database } from '../db/database.ts';
import { listModels, type ModelInfo, readChunk } from '../store/models.ts';

export interface ExportOutcome {
  sha256: string;
  bytes: number;
  written: boolean;
}

async function fileHash(path: string): Promise<{ size: number; sha256: string } | undefined> {
  try {
    const { size } = await stat(path);
    const hash = createHash('sha256');
    for await (const part of createReadStream(path)) hash.update(part as Buffer);
    return { size, sha256: hash.digest('hex') };
  } catch {
    return undefined;
  }
}

async function exportOne(db: Database, info: ModelInfo, dir: string): Promise<boolean> {
  const target = join(dir, info.sha256);
  const existing = await fileHash(target);
  if (existing && existing.size === info.size && existing.sha256 === info.sha256) return false;
  const partial = `${target}.partial`;
  const file = await open(partial, 'w');
  const hash = createHash('sha256');
  try {
    const count = Math.ceil(info.size / info.chunkSize);
    for (let index = 0; index < count; index++) {
      const chunk = await readChunk(db, info, index);
      hash.update(chunk);
      await file.write(chunk);
    }
    await file.close();
    const digest = hash.digest('hex');
    if (digest !== info.sha256)
      throw new Error(`model ${info.sha256}: the stored bytes hash to ${digest}`);
    await rename(partial, target);
    return true;
  } catch (error) {
    await file.close().catch(() => {});
    await rm(partial, { force: true });
    throw error;
  }
}

export async function exportModels(
  db: Database,
  dir: string,
  onModel: (outcome: ExportOutcome) => void = () => {},
): Promise<ExportOutcome[]> {
  await mkdir(dir, { recursive: true });
  const outcomes: ExportOutcome[] = [];
  for (const info of await listModels(db)) {
    const outcome = {
      sha256: info.sha256,
      bytes: info.size,
      written: await exportOne(db, info, dir),
    };
    onModel(outcome);
    outcomes.push(outcome);
  }
  return outcomes;
}
