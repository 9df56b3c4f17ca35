/**
 * The default trainer: the batch trainer from `models/train` (ALS + item MLP hybrid, see
 * models/README.md) on the server's own interaction data, a MovieLens-format folder
 * (`ratings.csv` with columns userId, movieId, rating and timestamp; `movies.csv` with movieId,
 * title and genres). Devices never send raw interactions; this is data the app's backend
 * already has.
 *
 * The latest `holdout` share of ratings by time is held out; the candidate trains on the rest.
 * Candidate and production are then replayed over the held-out users through the device's own
 * pipeline (onnxruntime-web on the ONNX bytes, the version's head learning per rating,
 * `models/train/replay.ts`), and each is scored by its prequential figures on the very same
 * ratings: pooled log loss and mean per-user ROC AUC (users with ≥ 20 held-out ratings of both
 * classes). Production can only be scored when its inputs fit this catalog, i.e. when it was
 * trained on the same movies.csv by this trainer (its head is then in head.json format).
 *
 * On MovieLens ml-latest-small (holdout 0.1: 9,951 held-out ratings of 64 users) a run took
 * 3–3.5 minutes on a shared two-core machine, training plus one replay per model scored. The
 * training is synchronous work, so the server's event loop is busy meanwhile (run the
 * scheduler's server as a process of its own where that matters).
 */
import { env } from 'onnxruntime-web/wasm';
import { qualifies, splitMovielens } from '../../models/movielens/dataset.ts';
import { loadMovielens } from '../../models/movielens/load.ts';
import { summarise } from '../../models/train/metrics.ts';
import { type ReplaySequence, replaySequences } from '../../models/train/replay.ts';
import { trainVersion } from '../../models/train/trainer.ts';
import type { ItemCatalog, TrainOptions } from '../../models/train/types.ts';
import { type HeadJson, headFromJson, headToJson } from '../../src/learn/head_json.ts';
import type {
  HeldOutMetrics,
  ProductionModel,
  Trainer,
  TrainRequest,
  TrainResult,
} from './trainer.ts';

export interface MovielensTrainerOptions {
  /** Folder with ratings.csv and movies.csv. */
  dataDir: string;
  /** Latest share of ratings held out for the comparison. Default 0.1. */
  holdout?: number;
  /** Passed to the batch trainer (seed, sweeps, epochs…); progress is the job's. */
  train?: Omit<TrainOptions, 'onProgress'>;
}

interface Inputs {
  name: string;
  size: number;
}

/** Why production cannot be scored on this catalog, or null when it can. */
function incompatibility(production: ProductionModel, catalog: ItemCatalog): string | null {
  const inputs = (production.featureSpec as { inputs?: Inputs[] }).inputs;
  if (!Array.isArray(inputs) || inputs.length !== 2)
    return "its feature spec does not have the trainer's two inputs (item, item_features)";
  if (inputs[0].size !== catalog.count)
    return `its item input has ${inputs[0].size} slots, the catalog ${catalog.count} movies`;
  if (inputs[1].size !== catalog.names.length)
    return `it takes ${inputs[1].size} content features, the catalog has ${catalog.names.length}`;
  if ((production.head as { format?: unknown } | null)?.format !== 'localfit.head/1')
    return 'it has no head in head.json format';
  return null;
}

function figures(summary: ReturnType<typeof summarise>): HeldOutMetrics {
  return { logloss: summary.ondevice_log_loss, auc: summary.ondevice_user_auc };
}

export function movielensTrainer(options: MovielensTrainerOptions): Trainer {
  const holdout = options.holdout ?? 0.1;
  return {
    description: `models/train hybrid (ALS + item MLP) on ${options.dataDir}, latest ${Math.round(holdout * 100)}% held out`,
    async train(request: TrainRequest): Promise<TrainResult> {
      // One wasm thread: what a page without cross-origin isolation gets, and no workers left.
      env.wasm.numThreads = 1;
      await request.progress(0, 'load');
      const { ratings, movies } = loadMovielens(options.dataDir);
      const split = splitMovielens(ratings, movies, 1 - holdout);
      request.signal.throwIfAborted();
      let reached = 0;
      const version = await trainVersion(split.history, split.catalog, {
        ...options.train,
        trainedOn: `${ratings.length - split.history.user.length === 0 ? 'all' : `earliest ${Math.round((1 - holdout) * 100)}%`} of ${options.dataDir} (${split.history.user.length} ratings), job ${request.jobId}`,
        onProgress: (p) => {
          const share = p.total > 0 ? p.done / p.total : 0;
          // Scale selection is about two thirds of the work, the final fit the rest.
          const fraction = p.step.startsWith('select') ? 0.05 + 0.45 * share : 0.5 + 0.3 * share;
          reached = Math.max(reached, fraction);
          void request.progress(reached, p.step);
        },
      });
      request.signal.throwIfAborted();

      const users = split.replay.filter((user) => qualifies(user));
      const sequences: ReplaySequence[] = users.map((user) => ({
        user: user.userId,
        items: user.items,
        labels: user.labels,
      }));
      const examples = sequences.reduce((n, s) => n + s.items.length, 0);
      await request.progress(0.8, 'evaluate candidate');
      const candidate = summarise(
        await replaySequences(
          { bytes: version.bytes, head: version.head, scale: version.scale },
          split.catalog,
          sequences,
        ),
      );
      let production: HeldOutMetrics | null = null;
      let productionNote: string | undefined;
      if (request.production) {
        const why = incompatibility(request.production, split.catalog);
        if (why) productionNote = `${request.production.id}: ${why}`;
        else {
          await request.progress(0.9, 'evaluate production');
          production = figures(
            summarise(
              await replaySequences(
                {
                  bytes: request.production.bytes,
                  head: headFromJson(request.production.head as unknown as HeadJson),
                  scale: false,
                },
                split.catalog,
                sequences,
              ),
            ),
          );
        }
      }
      return {
        candidate: {
          bytes: version.bytes,
          featureSpec: version.spec as unknown as Record<string, unknown>,
          head: headToJson(version.head) as unknown as Record<string, unknown>,
        },
        evaluation: {
          heldOut: `latest ${Math.round(holdout * 100)}% of ratings, ${users.length} users with ≥ 20 of both classes; prequential replay with the device's head`,
          examples,
          candidate: figures(candidate),
          production,
          ...(productionNote ? { productionNote } : {}),
        },
      };
    },
  };
}
