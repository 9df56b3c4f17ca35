/**
 * The MovieLens replay end to end, in Node: read the data where it lies, split it by time,
 * train the version on the history, replay every later user through the device's pipeline,
 * and report. Used by `localfit replay movielens`, the unit test and the benchmark.
 */
import { env } from 'onnxruntime-web/wasm';
import type { ForgettingGuardOptions } from '../../src/drift/forgetting_guard.ts';
import { type ReplaySummary, summarise, type UserTrace } from '../train/metrics.ts';
import type { ReplaySequence } from '../train/replay.ts';
import { replaySequences } from '../train/replay.ts';
import { trainVersion } from '../train/trainer.ts';
import type { ItemCatalog, TrainedVersion, TrainProgress } from '../train/types.ts';
import { writeVersionDir } from '../train/version_dir.ts';
import { qualifies, splitMovielens } from './dataset.ts';
import { DEFAULT_MOVIELENS_DIR, loadMovielens } from './load.ts';

export interface MovielensRunOptions {
  /** Directory with ratings.csv and movies.csv (default ../shared/data/movielens-small). */
  dataDir?: string;
  /** Write the trained version there (model.onnx, head.json, …). */
  saveDir?: string;
  /** Replay only the first n qualifying users (default: all). */
  maxUsers?: number;
  onProgress?: (progress: TrainProgress) => void;
  /** Replay each user a third time with the forgetting guard (these options). */
  guard?: ForgettingGuardOptions;
}

export interface MovielensRun {
  summary: ReplaySummary;
  traces: UserTrace[];
  version: TrainedVersion;
  /** The catalog the version embeds and the replayed users, for figures beyond the replay. */
  catalog: ItemCatalog;
  sequences: ReplaySequence[];
  seconds: { load: number; train: number; replay: number };
}

export async function runMovielensReplay(options: MovielensRunOptions = {}): Promise<MovielensRun> {
  // onnxruntime-web's Node build runs its wasm in-process; one thread is what a page without
  // cross-origin isolation gets too, and it leaves no worker threads behind.
  env.wasm.numThreads = 1;
  const started = performance.now();
  const seconds = () => (performance.now() - started) / 1000;
  const { ratings, movies } = loadMovielens(options.dataDir ?? DEFAULT_MOVIELENS_DIR);
  const split = splitMovielens(ratings, movies);
  const load = seconds();

  const version = await trainVersion(split.history, split.catalog, {
    trainedOn: `MovieLens ml-latest-small, earliest 80% of ratings by time (${split.history.user.length} ratings)`,
    onProgress: options.onProgress,
  });
  if (options.saveDir) await writeVersionDir(options.saveDir, version);
  const train = seconds() - load;

  const users = split.replay.filter((user) => qualifies(user));
  const sequences = users
    .slice(0, options.maxUsers ?? users.length)
    .map((user) => ({ user: user.userId, items: user.items, labels: user.labels }));
  const replayStart = seconds();
  const traces = await replaySequences(
    { bytes: version.bytes, head: version.head, scale: version.scale },
    split.catalog,
    sequences,
    (done, total) => options.onProgress?.({ step: 'replay', done, total, elapsed: seconds() }),
    options.guard,
  );
  return {
    summary: summarise(traces),
    traces,
    version,
    catalog: split.catalog,
    sequences,
    seconds: { load, train, replay: seconds() - replayStart },
  };
}
