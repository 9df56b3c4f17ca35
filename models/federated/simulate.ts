/**
 * A fleet of devices training the next version by DP-FedAvg, simulated: what issue 20's
 * rounds would produce on a recorded stream, before any of it runs on real devices. Every step
 * is the library's own code — each device is the library's default head seeded from the base
 * version (src/learn, as `Pipeline` seeds it), its contribution is `contribution()` (delta,
 * clip, optional local noise; src/federated/contribution.ts), the server's step is
 * `aggregate()` + `applyDelta()` (src/federated/aggregate.ts) and the privacy loss is the RDP
 * accountant's (src/federated/accountant.ts). Nothing here re-implements them.
 *
 * Rounds over time. The fleet's outcomes, in time order, are cut into `rounds` chronological
 * slices holding equally many outcomes. Round r opens on base version r (the static server
 * head for r = 0); every device adopts it, so its head restarts from the base (seeded as a
 * device seeds a new version) and learns the outcomes it sees in slice r, each once, in
 * order. A device that learned at least `minOutcomes` (k) outcomes since it adopted the base
 * contributes once; the server averages the round's clipped deltas with Gaussian noise of
 * standard deviation z·clip on the sum and moves the base by η times that average: the next
 * base. A round with fewer than `minClients` contributions is skipped (its base carries on,
 * nothing is released, no privacy is spent).
 *
 * Privacy accounting: the conservative reading — every round is charged to every device, as
 * if each took part in all of them (sampling rate q = 1; user-level DP, one device is one
 * user). z is the smallest noise multiplier whose `rounds` rounds stay within ε at δ
 * (`noiseMultiplierFor`), so the budget holds whatever happens. A device that takes part in
 * fewer rounds spends less (Feldman & Zrnic 2021, "Individual Privacy Accounting via a Rényi
 * Filter"); that tighter per-device reading is not used here.
 *
 * Deterministic: all noise comes from `seededRandom(seed)` (the library's, for simulations
 * only), and device learning is deterministic.
 *
 * Browser-safe, no I/O: the MovieLens wiring is models/federated/movielens.ts.
 *
 * ```ts
 * import { planRounds } from './simulate.ts';
 * // ε = 8 at δ = 1e-5 over 70 devices with a 39-wide head (the MovieLens fleet):
 * planRounds(8, 1e-5, 70, 39); // 3
 * planRounds(1, 1e-5, 70, 39); // 1
 * ```
 */
import { noiseMultiplierFor, RdpAccountant } from '../../src/federated/accountant.ts';
import { aggregate, applyDelta } from '../../src/federated/aggregate.ts';
import { contribution, seededRandom } from '../../src/federated/contribution.ts';
import { restoreHead, seedHead } from '../../src/learn/index.ts';
import type { HeadState } from '../../src/learn/types.ts';
import { countOutcomes, fitGlobalHead } from '../train/global_head.ts';
import { logLoss, mean, rocAuc } from '../train/metrics.ts';

/** One device's outcomes in time order. */
export interface DeviceStream {
  user: number;
  /** Catalog indices (rows of `features`). */
  items: ArrayLike<number>;
  labels: ArrayLike<number>;
  /** Seconds; non-decreasing. */
  times: ArrayLike<number>;
}

/** The embedding every item has: items × dim, row-major. */
export interface Embedded {
  features: Float32Array | Float64Array;
  dim: number;
}

export interface FederatedOptions {
  /** Target ε after all rounds (default 8). Infinity: no noise. */
  epsilon?: number;
  /** δ (default 1e-5). */
  delta?: number;
  /** Rounds (default: {@link planRounds} for ε, the fleet's size and the head's width). */
  rounds?: number;
  /** L2 clip norm of a delta. */
  clip?: number;
  /** η: the server's step on the noisy average. */
  serverLearningRate?: number;
  /** k: outcomes a device must have learned since adopting the base to contribute. */
  minOutcomes?: number;
  /** Rounds with fewer contributions are skipped (default 2). */
  minClients?: number;
  /** Local DP: device-side noise multiplier (default 0: none). */
  localNoise?: number;
  /** Seed of all noise (default 1). */
  seed?: number;
}

/**
 * The defaults, chosen on the MovieLens replay (models/federated/movielens.ts; the grid is in
 * its README section) and kept for every ε. The clip, 0.5, is below nearly every device's raw
 * delta (median ‖Δ‖₂ ≈ 1.2 on a 39-wide head), so each contribution is a direction of length
 * 0.5 and the sensitivity is tight; with every delta clipped, η and the clip trade one for the
 * other (clip 0.25 with η 2 gave the same figures), so η stays 1, plain FedAvg. k = 10: at 5
 * the figures were the same, at 20 a fifth of the contributions were lost and AUC fell.
 */
export const FEDERATED_DEFAULTS = {
  epsilon: 8,
  delta: 1e-5,
  clip: 0.5,
  serverLearningRate: 1,
  minOutcomes: 10,
  minClients: 2,
  localNoise: 0,
  seed: 1,
} as const;

export interface RoundRecord {
  round: number;
  /** Time span of the round's slice (seconds). */
  from: number;
  to: number;
  /** Devices that saw at least one outcome in the slice. */
  active: number;
  /** Devices that contributed (≥ k outcomes). */
  clients: number;
  /** Median ‖Δ‖₂ before clipping over the contributions. */
  medianRawNorm: number;
  /** Share of contributions the clip shortened. */
  clipped: number;
  /** σ of the noise on each coordinate of the average (z·clip/n). */
  noiseStd: number;
  /** False when fewer than minClients contributed: the base carries on. */
  applied: boolean;
}

export interface FederatedResult {
  head: HeadState;
  /** z: the noise multiplier every round used. */
  noiseMultiplier: number;
  /** ε spent at δ (improved conversion, what the server budgets with), over applied rounds. */
  epsilon: number;
  delta: number;
  rounds: RoundRecord[];
  options: Required<FederatedOptions>;
}

/** Most rounds {@link planRounds} proposes. */
export const MAX_PLANNED_ROUNDS = 8;

/**
 * Contributions a planned round should expect at least (devices / rounds): fewer, and one
 * user's own taste steers the round's average even without noise (on MovieLens, 8 noise-free
 * rounds of ~9 devices each scored below 1 round of 64).
 */
export const PLANNED_CLIENTS = 20;

/**
 * How many rounds a budget affords: the most (up to {@link MAX_PLANNED_ROUNDS}, and leaving
 * each round {@link PLANNED_CLIENTS} devices) for which the noise on a round's average stays at
 * most a third of the clip in L2 norm, reckoning n ≈ devices / rounds contributions per round:
 * z(ε, R)·√dim·R / devices ≤ 1/3. More rounds let
 * the fleet's learning build on itself, but at a fixed ε each round's z grows (about as √R,
 * since every round is charged to every device) while its contributions shrink (as 1/R), so
 * past that point the noise buries the signal. Public quantities only (ε, δ, the number of
 * installs, the head's width): no data is looked at. On MovieLens (70 devices, dim 39) this is
 * 3 rounds at ε = 8 (and without noise), 2 at ε = 4, 1 at ε ≤ 2; measured there, one round
 * more than planned lost AUC at every ε but 8 (4 rounds at ε = 8 fell below the static head
 * for some seeds).
 */
export function planRounds(epsilon: number, delta: number, devices: number, dim: number): number {
  let rounds = 1;
  const most = Math.min(MAX_PLANNED_ROUNDS, Math.floor(devices / PLANNED_CLIENTS));
  for (let r = 2; r <= most; r++) {
    const z = Number.isFinite(epsilon)
      ? noiseMultiplierFor({ epsilon, delta }, { samplingRate: 1, steps: r })
      : 0;
    if ((z * Math.sqrt(dim) * r) / Math.max(1, devices) > 1 / 3) break;
    rounds = r;
  }
  return rounds;
}

function resolveOptions(
  options: FederatedOptions,
  devices: number,
  dim: number,
): Required<FederatedOptions> {
  // An option given as undefined takes its default.
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const merged: Omit<Required<FederatedOptions>, 'rounds'> = { ...FEDERATED_DEFAULTS, ...given };
  return {
    ...merged,
    rounds: options.rounds ?? planRounds(merged.epsilon, merged.delta, devices, dim),
  };
}

/** The boundaries of `rounds` slices with equally many outcomes (by time). */
export function sliceTimes(devices: readonly DeviceStream[], rounds: number): number[] {
  const times: number[] = [];
  for (const device of devices)
    for (let t = 0; t < device.times.length; t++) times.push(device.times[t]);
  times.sort((a, b) => a - b);
  if (times.length === 0) return [];
  // Boundaries b_1 < … < b_{R−1}: slice r holds times in [b_r, b_{r+1}).
  const edges: number[] = [Number.NEGATIVE_INFINITY];
  for (let r = 1; r < rounds; r++) edges.push(times[Math.floor((r * times.length) / rounds)]);
  edges.push(Number.POSITIVE_INFINITY);
  return edges;
}

/** Runs the rounds; the result's head is the last base. */
export function simulateFederated(
  base: HeadState,
  embedded: Embedded,
  devices: readonly DeviceStream[],
  options: FederatedOptions = {},
): FederatedResult {
  const { features, dim } = embedded;
  const o = resolveOptions(
    options,
    devices.filter((device) => device.items.length > 0).length,
    dim,
  );
  const random = seededRandom(o.seed);
  const noiseMultiplier = Number.isFinite(o.epsilon)
    ? noiseMultiplierFor(
        { epsilon: o.epsilon, delta: o.delta },
        { samplingRate: 1, steps: o.rounds },
      )
    : 0;
  const accountant = new RdpAccountant();
  const edges = sliceTimes(devices, o.rounds);
  const x = new Float64Array(dim);
  const records: RoundRecord[] = [];
  let current = base;
  for (let r = 0; r < o.rounds && edges.length > 0; r++) {
    const from = edges[r];
    const to = edges[r + 1];
    const deltas: { weights: number[]; intercepts: number[] }[] = [];
    const rawNorms: number[] = [];
    let active = 0;
    for (const device of devices) {
      // The device adopts the round's base: its head restarts from it, as a new version seeds it.
      let head: ReturnType<typeof seedHead> | undefined;
      let learned = 0;
      for (let t = 0; t < device.times.length; t++) {
        const time = device.times[t];
        if (time < from || time >= to) continue;
        head ??= seedHead(current);
        const item = device.items[t];
        for (let j = 0; j < dim; j++) x[j] = features[item * dim + j];
        head.partialFit(x, device.labels[t]);
        learned++;
      }
      if (learned > 0) active++;
      if (!head || learned < o.minOutcomes) continue;
      const sent = contribution(head.exportState(), current, {
        clip: o.clip,
        localNoise: o.localNoise,
        random,
      });
      deltas.push(sent.delta);
      rawNorms.push(sent.rawNorm);
    }
    const applied = deltas.length >= Math.max(1, o.minClients);
    let noiseStd = 0;
    if (applied) {
      const round = aggregate(deltas, { clip: o.clip, noiseMultiplier, random });
      noiseStd = round.noiseStd;
      current = applyDelta(current, round.mean, o.serverLearningRate);
      if (noiseMultiplier > 0) accountant.compose({ samplingRate: 1, noiseMultiplier, steps: 1 });
    }
    const sorted = [...rawNorms].sort((a, b) => a - b);
    records.push({
      round: r,
      from: Number.isFinite(from) ? from : minTime(devices),
      to: Number.isFinite(to) ? to : maxTime(devices),
      active,
      clients: deltas.length,
      medianRawNorm: sorted.length ? sorted[Math.floor(sorted.length / 2)] : Number.NaN,
      clipped: rawNorms.length ? rawNorms.filter((n) => n > o.clip).length / rawNorms.length : 0,
      noiseStd,
      applied,
    });
  }
  const spent = records.some((record) => record.applied)
    ? noiseMultiplier > 0
      ? accountant.epsilon(o.delta).epsilon
      : Number.POSITIVE_INFINITY
    : 0;
  return {
    head: current,
    noiseMultiplier,
    epsilon: spent,
    delta: o.delta,
    rounds: records,
    options: o,
  };
}

function minTime(devices: readonly DeviceStream[]): number {
  let m = Number.POSITIVE_INFINITY;
  for (const d of devices) if (d.times.length) m = Math.min(m, d.times[0]);
  return m;
}

function maxTime(devices: readonly DeviceStream[]): number {
  let m = Number.NEGATIVE_INFINITY;
  for (const d of devices) if (d.times.length) m = Math.max(m, d.times[d.times.length - 1]);
  return m;
}

/**
 * The centrally retrained head: the server holds every outcome (its history and the fleet's)
 * and refits the global head on them (Newton, models/train/global_head.ts, the trainer's own
 * fit) over the same backbone — the upper bound a federated head on that backbone aims at.
 */
export function centralHead(
  embedded: Embedded,
  history: { item: Int32Array; label: Uint8Array },
  devices: readonly DeviceStream[],
): HeadState {
  let extra = 0;
  for (const device of devices) extra += device.items.length;
  const item = new Int32Array(history.item.length + extra);
  const label = new Uint8Array(history.label.length + extra);
  item.set(history.item);
  label.set(history.label);
  let at = history.item.length;
  for (const device of devices)
    for (let t = 0; t < device.items.length; t++, at++) {
      item[at] = device.items[t];
      label[at] = device.labels[t];
    }
  const items = embedded.features.length / embedded.dim;
  return fitGlobalHead(embedded.features, embedded.dim, countOutcomes(items, item, label)).state;
}

/** A head's figures on held-out users (≥ `minInteractions` outcomes and both classes). */
export interface HeadFigures {
  /** Mean per-user ROC AUC. */
  userAuc: number;
  pooledAuc: number;
  logLoss: number;
  /** The same with each held-out user's device learning on from this head (prequential). */
  ondevice: { userAuc: number; pooledAuc: number; logLoss: number };
  users: number;
  interactions: number;
  /** The served scores and the labels, per counted user (for {@link bootstrapDifferences}). */
  perUser: { scores: number[]; labels: number[] }[];
}

/**
 * Scores every held-out user's outcomes with the head as served (no learning) and, beside it,
 * with the device's default head seeded from it predicting then learning each outcome (what a
 * device adopting this version would see).
 */
export function evaluateHead(
  head: HeadState,
  embedded: Embedded,
  users: readonly { items: ArrayLike<number>; labels: ArrayLike<number> }[],
  minInteractions = 20,
): HeadFigures {
  const { features, dim } = embedded;
  const served = restoreHead(head);
  const x = new Float64Array(dim);
  const perUser: { scores: number[]; labels: number[] }[] = [];
  const userAucs: number[] = [];
  const userAucsOndevice: number[] = [];
  const pooled: number[] = [];
  const pooledOndevice: number[] = [];
  const labels: number[] = [];
  for (const user of users) {
    let positives = 0;
    for (let t = 0; t < user.labels.length; t++) positives += user.labels[t];
    if (user.labels.length < minInteractions || positives === 0 || positives === user.labels.length)
      continue;
    const device = seedHead(head);
    const scores: number[] = [];
    const ondevice: number[] = [];
    for (let t = 0; t < user.items.length; t++) {
      const item = user.items[t];
      for (let j = 0; j < dim; j++) x[j] = features[item * dim + j];
      scores.push(served.score(x));
      ondevice.push(device.score(x));
      device.partialFit(x, user.labels[t]);
      labels.push(user.labels[t]);
    }
    const own = Array.from(user.labels);
    perUser.push({ scores, labels: own });
    userAucs.push(rocAuc(scores, own));
    userAucsOndevice.push(rocAuc(ondevice, own));
    pooled.push(...scores);
    pooledOndevice.push(...ondevice);
  }
  return {
    userAuc: mean(userAucs),
    pooledAuc: rocAuc(pooled, labels),
    logLoss: logLoss(pooled, labels),
    ondevice: {
      userAuc: mean(userAucsOndevice),
      pooledAuc: rocAuc(pooledOndevice, labels),
      logLoss: logLoss(pooledOndevice, labels),
    },
    users: userAucs.length,
    interactions: labels.length,
    perUser,
  };
}

/**
 * How far the pooled-AUC differences between heads can be trusted: a paired bootstrap over
 * the held-out users (Efron & Tibshirani 1993, ch. 6) — resample users with replacement, pool
 * each head's scores of the same users, take each head's pooled AUC minus the reference's.
 * Returns, per head, the mean and standard deviation of that difference over `reps` resamples.
 * `heads[0]` is the reference; all must score the same users in the same order.
 */
export function bootstrapDifferences(
  heads: readonly HeadFigures[],
  reps = 200,
  seed = 1,
): { mean: number; se: number }[] {
  const random = seededRandom(seed);
  const users = heads[0].perUser.length;
  const diffs = heads.map(() => [] as number[]);
  for (let rep = 0; rep < reps; rep++) {
    const pick = Array.from({ length: users }, () => Math.floor(random() * users));
    const auc = heads.map((head) => {
      const scores: number[] = [];
      const labels: number[] = [];
      for (const u of pick) {
        scores.push(...head.perUser[u].scores);
        labels.push(...head.perUser[u].labels);
      }
      return rocAuc(scores, labels);
    });
    auc.forEach((value, h) => {
      diffs[h].push(value - auc[0]);
    });
  }
  return diffs.map((values) => {
    const m = mean(values);
    const variance = values.reduce((s, v) => s + (v - m) ** 2, 0) / Math.max(1, values.length - 1);
    return { mean: m, se: Math.sqrt(variance) };
  });
}
