/**
 * The demo's second version, for the operator panel to stage: the same catalog, a backbone
 * and head retrained on a newer simulated history in which more people's tastes shifted (the
 * situation the demo's "shift" button creates). It comes from the project's own trainer and
 * world (models/), like the default version in public/models/demo/; deterministic, so it is
 * trained once per data directory and read back after that.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { simulateHistory } from '../../models/demo/history.ts';
import { trainVersion } from '../../models/train/trainer.ts';
import type { TrainedVersion } from '../../models/train/types.ts';
import { readVersionDir, writeVersionDir } from '../../models/train/version_dir.ts';
import { createWorld, DEMO_ITEMS, DEMO_SEED } from '../../src/demo/world.ts';
import type { HeadJson } from '../../src/learn/head_json.ts';
import { headToJson } from '../../src/learn/head_json.ts';

export const VARIANT_SEMVER = '1.1.0';
const VARIANT_SEED = DEMO_SEED + 101;

export interface DemoVariant {
  semver: string;
  sha256: string;
  bytes: Uint8Array;
  head: HeadJson;
  trainedOn: string;
}

const TRAINED_ON = `localfit demo simulator, seed ${VARIANT_SEED}: 400 newer users, 60 % of them shifting taste`;

async function train(): Promise<TrainedVersion> {
  const world = createWorld(DEMO_SEED, DEMO_ITEMS);
  const { history } = simulateHistory(world, VARIANT_SEED, {
    users: 400,
    perUser: 50,
    shifting: 0.6,
  });
  return await trainVersion(history, world.catalog, {
    seed: VARIANT_SEED,
    factors: 8,
    hidden: [32],
    epochs: 20,
    semver: VARIANT_SEMVER,
    trainedOn: TRAINED_ON,
  });
}

/** The variant: read from `<cacheDir>/demo-variant/` when there, else trained (~10 s) and saved. */
export async function demoVariant(cacheDir?: string): Promise<DemoVariant> {
  const dir = cacheDir ? join(cacheDir, 'demo-variant', VARIANT_SEMVER) : undefined;
  if (dir && existsSync(join(dir, 'version.json'))) {
    const loaded = await readVersionDir(dir);
    return {
      semver: loaded.manifest.semver,
      sha256: loaded.manifest.model.sha256,
      bytes: loaded.bytes,
      head: headToJson(loaded.head),
      trainedOn: TRAINED_ON,
    };
  }
  const version = await train();
  if (dir) await writeVersionDir(dir, version);
  return {
    semver: VARIANT_SEMVER,
    sha256: version.sha256,
    bytes: version.bytes,
    head: headToJson(version.head),
    trainedOn: TRAINED_ON,
  };
}
