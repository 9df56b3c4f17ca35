/**
 * Builds the demo's default version from the simulated world (see world.ts): a catalog of
 * synthetic movies, a server history of simulated users, the trained version, and a replay
 * check. Deterministic: the same seed gives byte-identical files, including the ONNX model
 * (whose sha256 is its address). Browser-safe; `models/build_demo.ts` writes the files.
 */

import {
  createWorld,
  DEMO_ITEMS,
  DEMO_SEED,
  type DemoWorld,
  simulateSession,
} from '../../src/demo/world.ts';
import { headToJson } from '../../src/learn/head_json.ts';
import { canonicalJson } from '../../src/protocol/canonical_json.ts';
import { replaySequences } from '../train/replay.ts';
import { trainVersion } from '../train/trainer.ts';
import type { TrainedVersion, TrainProgress } from '../train/types.ts';
import { simulateHistory } from './history.ts';

export { DEMO_ITEMS, DEMO_SEED };

export const DEMO_USERS = 800;
export const DEMO_PER_USER = 50;
/** Simulated newcomers whose replay scores the check file records. */
export const CHECK_USERS = 4;
export const CHECK_LENGTH = 40;

export interface DemoCatalogJson {
  format: 'localfit.catalog/1';
  /** Content feature names, in the order of each item's `features`. */
  names: string[];
  items: { id: number; title: string; genres: string[]; year: number; features: number[] }[];
}

export interface DemoCheckJson {
  format: 'localfit.replay-check/1';
  /** sha256 of the model the scores were computed with. */
  model: string;
  users: {
    seed: number;
    items: number[];
    labels: number[];
    static: number[];
    ondevice: number[];
  }[];
}

export interface DemoBuild {
  world: DemoWorld;
  version: TrainedVersion;
  catalog: DemoCatalogJson;
  check: DemoCheckJson;
}

export function catalogJson(world: DemoWorld): DemoCatalogJson {
  const { catalog } = world;
  const width = catalog.names.length;
  return {
    format: 'localfit.catalog/1',
    names: catalog.names,
    items: world.items.map((item, i) => ({
      id: item.id,
      title: item.title,
      genres: item.genres,
      year: item.year,
      features: Array.from(catalog.features.subarray(i * width, (i + 1) * width)),
    })),
  };
}

/** The seeds of the check's newcomers. */
export function checkSeeds(seed = DEMO_SEED): number[] {
  return Array.from({ length: CHECK_USERS }, (_, u) => (seed + 1_000_003 * (u + 1)) >>> 0);
}

export async function buildDemo(
  seed = DEMO_SEED,
  onProgress?: (progress: TrainProgress) => void,
): Promise<DemoBuild> {
  const world = createWorld(seed, DEMO_ITEMS);
  const { history } = simulateHistory(world, seed + 1, {
    users: DEMO_USERS,
    perUser: DEMO_PER_USER,
  });
  const version = await trainVersion(history, world.catalog, {
    seed,
    factors: 8,
    hidden: [32],
    epochs: 40,
    semver: '1.0.0',
    trainedOn: `localfit demo simulator, seed ${seed}: ${DEMO_USERS} users, ${history.user.length} interactions over ${DEMO_ITEMS} synthetic movies`,
    onProgress,
  });
  const sessions = checkSeeds(seed).map((s) => ({
    seed: s,
    ...simulateSession(world, s, CHECK_LENGTH),
  }));
  const traces = await replaySequences(
    { bytes: version.bytes, head: version.head, scale: version.scale },
    world.catalog,
    sessions.map((session, u) => ({ user: u, items: session.items, labels: session.labels })),
  );
  const check: DemoCheckJson = {
    format: 'localfit.replay-check/1',
    model: version.sha256,
    users: sessions.map((session, u) => ({
      seed: session.seed,
      items: Array.from(session.items),
      labels: Array.from(session.labels),
      static: traces[u].static,
      ondevice: traces[u].ondevice,
    })),
  };
  return { world, version, catalog: catalogJson(world), check };
}

/** The head as written to head.json (for comparisons without touching the disk). */
export function demoHeadJson(build: DemoBuild): string {
  return canonicalJson(headToJson(build.version.head));
}
