/**
 * The federated simulation on MovieLens (issue 20, item 5): `localfit replay movielens
 * --federated`, the benchmark's AUC-against-ε series and the floor test all run this.
 *
 * The setting. The version is the MovieLens replay's (models/movielens/run.ts): trained on the
 * earliest 80 % of ratings by time. The users the replay sees after that are ordered by their
 * first later rating; the earlier {@link FLEET_SHARE} of them are the fleet — each one device
 * learning from its own ratings — and the rest are the later users, held out: none of their
 * ratings reaches any head, federated or central. The fleet learns only until the first
 * held-out user arrives (the split time), so every held-out rating is later than every rating
 * the new heads were trained on, as for a version published then.
 *
 * Three heads on the same backbone, scored on the held-out users' ratings as served (no
 * learning; `ondevice` beside it: each held-out device learning on from that head):
 * - static: the version's head, fitted on the history;
 * - central: the head refitted on the history plus every fleet rating (the server holds all
 *   the data: the bound a federated head aims at);
 * - federated: DP-FedAvg rounds over the fleet (models/federated/simulate.ts).
 *
 * Browser-safe except {@link runFederatedMovielens}, which reads the data from disk.
 */
import type { HeadState } from '../../src/learn/types.ts';
import { type MovielensSplit, splitMovielens } from '../movielens/dataset.ts';
import { embedCatalog } from '../train/hybrid.ts';
import type { TrainedVersion } from '../train/types.ts';
import {
  bootstrapDifferences,
  centralHead,
  type DeviceStream,
  type Embedded,
  evaluateHead,
  FEDERATED_DEFAULTS,
  type FederatedOptions,
  type FederatedResult,
  type HeadFigures,
  simulateFederated,
} from './simulate.ts';

/** Share of the later users (by first later rating) that are the fleet; the rest are held out. */
export const FLEET_SHARE = 0.6;

/** ε values of the plot-ready series (Infinity: no noise, the clipped FedAvg alone). */
export const EPSILON_SERIES: readonly number[] = [0.5, 1, 2, 4, 8, Number.POSITIVE_INFINITY];

/** Seeds each point of the series is averaged over (the noise is the only random part). */
export const SERIES_SEEDS: readonly number[] = [1, 2, 3];

export interface FederatedContext {
  base: HeadState;
  embedded: Embedded;
  history: { item: Int32Array; label: Uint8Array };
  fleet: DeviceStream[];
  heldOut: { user: number; items: Int32Array; labels: Uint8Array }[];
  /** Seconds: the first held-out user's first rating; the fleet learns before it. */
  splitTime: number;
}

/** Fleet and held-out users from the replay's split, with the version's embedding. */
export function federatedContext(
  version: Pick<TrainedVersion, 'head' | 'params' | 'spec'>,
  split: Pick<MovielensSplit, 'catalog' | 'history' | 'replay'>,
  fleetShare = FLEET_SHARE,
): FederatedContext {
  const users = [...split.replay]
    .filter((user) => user.times.length > 0)
    .sort((a, b) => a.times[0] - b.times[0] || a.userId - b.userId);
  const fleetSize = Math.min(users.length - 1, Math.max(1, Math.round(users.length * fleetShare)));
  const splitTime = users[fleetSize].times[0];
  const fleet = users.slice(0, fleetSize).map((user) => {
    let n = 0;
    while (n < user.times.length && user.times[n] < splitTime) n++;
    return {
      user: user.userId,
      items: user.items.slice(0, n),
      labels: user.labels.slice(0, n),
      times: user.times.slice(0, n),
    };
  });
  const heldOut = users
    .slice(fleetSize)
    .map((user) => ({ user: user.userId, items: user.items, labels: user.labels }));
  return {
    base: version.head,
    embedded: {
      features: embedCatalog(version.params, version.spec, split.catalog.features),
      dim: version.head.config.dim,
    },
    history: { item: split.history.item, label: split.history.label },
    fleet,
    heldOut,
    splitTime,
  };
}

export interface FederatedReport {
  fleet: { devices: number; ratings: number; from: number; to: number };
  heldOut: { users: number; qualifying: number; ratings: number };
  static: HeadFigures;
  central: HeadFigures;
  federated: HeadFigures & { run: FederatedResult };
  /** The same rounds with device-side noise (local DP), when asked for. */
  localDp?: HeadFigures & { run: FederatedResult };
  /** (federated − static) / (central − static) on pooled AUC; the floor is ≥ 0.5. */
  shareOfGap: number;
  /**
   * Paired bootstrap over the held-out users: the standard error of central − static and of
   * federated − static in pooled AUC, to read the gap against.
   */
  bootstrap: { central: { mean: number; se: number }; federated: { mean: number; se: number } };
  seconds: number;
}

export interface FederatedRunOptions extends FederatedOptions {
  /**
   * Also run the rounds with this device-side noise multiplier on top (local DP). Default: the
   * multiplier at which one device's contributions alone reach the target ε (each device then
   * is ε-DP towards the server too, whatever the server does).
   */
  localDp?: number | false;
}

/** Static, central and federated figures on the held-out users. */
export function federatedReport(
  context: FederatedContext,
  options: FederatedRunOptions = {},
): FederatedReport {
  const started = performance.now();
  const { embedded, heldOut, fleet } = context;
  const staticFigures = evaluateHead(context.base, embedded, heldOut);
  const central = evaluateHead(centralHead(embedded, context.history, fleet), embedded, heldOut);
  const { localDp, ...federatedOptions } = options;
  const run = simulateFederated(context.base, embedded, fleet, federatedOptions);
  const federated = { ...evaluateHead(run.head, embedded, heldOut), run };
  let local: FederatedReport['localDp'];
  if (localDp !== false && Number.isFinite(run.options.epsilon)) {
    // Local DP: the device noises its own delta, with the same z the server would use, so
    // each device's contributions alone are (ε, δ)-DP; the server adds its noise on top.
    const m = localDp ?? run.noiseMultiplier;
    const noisy = simulateFederated(context.base, embedded, fleet, {
      ...federatedOptions,
      localNoise: m,
    });
    local = { ...evaluateHead(noisy.head, embedded, heldOut), run: noisy };
  }
  let ratings = 0;
  let from = Number.POSITIVE_INFINITY;
  let to = Number.NEGATIVE_INFINITY;
  for (const device of fleet) {
    ratings += device.items.length;
    if (device.times.length) {
      from = Math.min(from, device.times[0]);
      to = Math.max(to, device.times[device.times.length - 1]);
    }
  }
  return {
    fleet: { devices: fleet.length, ratings, from, to },
    heldOut: {
      users: heldOut.length,
      qualifying: staticFigures.users,
      ratings: heldOut.reduce((sum, user) => sum + user.items.length, 0),
    },
    static: staticFigures,
    central,
    federated,
    ...(local ? { localDp: local } : {}),
    bootstrap: (() => {
      const [, c, f] = bootstrapDifferences([staticFigures, central, federated]);
      return { central: c, federated: f };
    })(),
    shareOfGap:
      (federated.pooledAuc - staticFigures.pooledAuc) /
      (central.pooledAuc - staticFigures.pooledAuc),
    seconds: (performance.now() - started) / 1000,
  };
}

export interface EpsilonPoint {
  /** Target ε (Infinity: no noise). */
  epsilon: number;
  noiseMultiplier: number;
  /** Mean over {@link SERIES_SEEDS}, and the range. */
  pooledAuc: number;
  pooledAucMin: number;
  pooledAucMax: number;
  userAuc: number;
  /** With device-side noise as well (local DP at the same ε); absent at ε = ∞. */
  localDpPooledAuc?: number;
}

/**
 * Plot-ready: the federated head's pooled and per-user AUC on the held-out users against ε,
 * every other setting at its default, each point averaged over {@link SERIES_SEEDS}.
 */
export function epsilonSeries(
  context: FederatedContext,
  epsilons: readonly number[] = EPSILON_SERIES,
  options: Omit<FederatedOptions, 'epsilon' | 'seed'> = {},
  seeds: readonly number[] = SERIES_SEEDS,
): EpsilonPoint[] {
  const { base, embedded, fleet, heldOut } = context;
  return epsilons.map((epsilon) => {
    const pooled: number[] = [];
    const user: number[] = [];
    const local: number[] = [];
    let noiseMultiplier = 0;
    for (const seed of seeds) {
      const run = simulateFederated(base, embedded, fleet, { ...options, epsilon, seed });
      noiseMultiplier = run.noiseMultiplier;
      const figures = evaluateHead(run.head, embedded, heldOut);
      pooled.push(figures.pooledAuc);
      user.push(figures.userAuc);
      if (Number.isFinite(epsilon)) {
        const noisy = simulateFederated(base, embedded, fleet, {
          ...options,
          epsilon,
          seed,
          localNoise: run.noiseMultiplier,
        });
        local.push(evaluateHead(noisy.head, embedded, heldOut).pooledAuc);
      }
    }
    const avg = (values: number[]) => values.reduce((s, v) => s + v, 0) / values.length;
    return {
      epsilon,
      noiseMultiplier,
      pooledAuc: avg(pooled),
      pooledAucMin: Math.min(...pooled),
      pooledAucMax: Math.max(...pooled),
      userAuc: avg(user),
      ...(local.length ? { localDpPooledAuc: avg(local) } : {}),
    };
  });
}

export { FEDERATED_DEFAULTS };

export interface MovielensFederatedOptions extends FederatedRunOptions {
  dataDir?: string;
  onProgress?: (progress: { step: string; done: number; total: number; elapsed: number }) => void;
}

/** Reads MovieLens, trains the version (as the replay does) and reports (Node only). */
export async function runFederatedMovielens(options: MovielensFederatedOptions = {}): Promise<{
  report: FederatedReport;
  context: FederatedContext;
  /** The version and the split, for other fleets of the same data (e.g. another share). */
  version: TrainedVersion;
  split: MovielensSplit;
  seconds: { train: number };
}> {
  const { dataDir, onProgress, ...rest } = options;
  const { DEFAULT_MOVIELENS_DIR, loadMovielens } = await import('../movielens/load.ts');
  const { trainVersion } = await import('../train/trainer.ts');
  const started = performance.now();
  const { ratings, movies } = loadMovielens(dataDir ?? DEFAULT_MOVIELENS_DIR);
  const split = splitMovielens(ratings, movies);
  const version = await trainVersion(split.history, split.catalog, {
    trainedOn: `MovieLens ml-latest-small, earliest 80% of ratings by time (${split.history.user.length} ratings)`,
    onProgress,
  });
  const train = (performance.now() - started) / 1000;
  const context = federatedContext(version, split);
  return { report: federatedReport(context, rest), context, version, split, seconds: { train } };
}
