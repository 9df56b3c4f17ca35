/**
 * How far any per-user linear head on a version's embedding can go: an upper bound for
 * on-device learning on that backbone, to read the replay's lift against.
 *
 * For each user, the ratings are dealt into `folds` interleaved folds (rating t goes to fold
 * t mod folds); each fold is scored by a head seeded from the version's head and trained for
 * `epochs` passes over the user's *other* folds — earlier and later ratings alike, several
 * times, at a constant step. That is more than a device ever has (it sees each outcome once,
 * in order, and only the past), so the mean per-user ROC AUC of these cross-fitted scores
 * bounds what a better optimizer, learning rate or mixture could add by learning the user's
 * taste on the same features. (It does not bound what tracking a drift within the user's
 * sequence adds, which a fitted model cannot do; on MovieLens a tracked per-user bias alone
 * adds 0.007 per-user AUC to the static model.) The rest must come from the representation
 * (the backbone) or from other inputs. Several settings can be given; the best one counts (on
 * the very users it reports on, which makes the bound, if anything, optimistic).
 *
 * Cross-fitting: the fold structure of K-fold cross-validation (Stone 1974, "Cross-validatory
 * choice and assessment of statistical predictions", JRSS B 36(2)), applied per user.
 *
 * Browser-safe; Node runs it for the benchmark (`models/movielens/bench.ts`).
 */
import { seedHead } from '../../src/learn/index.ts';
import type { HeadState } from '../../src/learn/types.ts';
import { mean, rocAuc } from './metrics.ts';

export interface CeilingSetting {
  /** Constant SGD step. */
  eta0: number;
  /** Passes over the user's other folds. */
  epochs: number;
}

/** Measured on MovieLens (see models/movielens/bench.ts): the bound peaks around these. */
export const CEILING_SETTINGS: readonly CeilingSetting[] = [
  { eta0: 0.003, epochs: 60 },
  { eta0: 0.01, epochs: 20 },
];

export interface CeilingResult {
  /** The best setting's mean per-user ROC AUC over the users with both classes. */
  userAuc: number;
  setting: CeilingSetting;
  /** Every setting's figure, in the order given. */
  bySetting: { setting: CeilingSetting; userAuc: number }[];
}

/**
 * `features`: items × dim, row-major (the embedding of every catalog item); `head` the
 * version's head over it. Users need at least `folds` ratings and both classes to count.
 */
export function crossFittedUserAuc(
  head: HeadState,
  features: Float32Array | Float64Array,
  sequences: readonly { items: ArrayLike<number>; labels: ArrayLike<number> }[],
  options: { folds?: number; settings?: readonly CeilingSetting[] } = {},
): CeilingResult {
  const folds = options.folds ?? 5;
  const settings = options.settings ?? CEILING_SETTINGS;
  const dim = head.config.dim;
  const x = new Float64Array(dim);
  const row = (item: number) => {
    for (let j = 0; j < dim; j++) x[j] = features[item * dim + j];
    return x;
  };
  const bySetting = settings.map((setting) => {
    const aucs: number[] = [];
    for (const { items, labels } of sequences) {
      const n = items.length;
      if (n < folds) continue;
      const scores = new Float64Array(n);
      for (let fold = 0; fold < folds; fold++) {
        const learner = seedHead(head, {
          kind: 'mixture',
          candidates: [{ kind: 'sgd', schedule: 'constant', eta0: setting.eta0 }],
        });
        for (let epoch = 0; epoch < setting.epochs; epoch++)
          for (let t = 0; t < n; t++)
            if (t % folds !== fold) learner.partialFit(row(items[t]), labels[t]);
        for (let t = fold; t < n; t += folds) scores[t] = learner.score(row(items[t]));
      }
      const auc = rocAuc(scores, labels);
      if (!Number.isNaN(auc)) aucs.push(auc);
    }
    return { setting, userAuc: mean(aucs) };
  });
  let best = bySetting[0];
  for (const entry of bySetting) if (entry.userAuc > best.userAuc) best = entry;
  return { userAuc: best.userAuc, setting: best.setting, bySetting };
}
