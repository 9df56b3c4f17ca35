/**
 * On-device heads: online linear models that learn one example at a time.
 *
 * - {@link createHead} builds a logistic (binary), softmax (multiclass) or linear
 *   (regression) head. By default it is a mixture (`mixture/`): SGD and AdaGrad candidates on
 *   the same features, predicting with exponential weights on their losses, so no learning
 *   rate needs tuning; `optimizer: { kind: 'sgd' | 'adagrad' | 'ftrl' }` gives one optimizer
 *   (SGD follows scikit-learn's SGDClassifier update for update), with L2/L1 regularisation.
 * - {@link restoreHead} resumes one exactly from {@link Head.exportState}.
 * - {@link seedHead} starts the default head from one trained elsewhere (a `head.json`).
 * - {@link StandardScaler} puts features on one scale in front of a head.
 *
 * ```ts
 * import { createHead, restoreHead, StandardScaler } from './index.ts';
 * const scaler = new StandardScaler(2);
 * const head = createHead({ task: 'binary', dim: 2 });
 * const z = new Float64Array(2);
 * for (const [x, y] of [[[1, 200], 1], [[0, 100], 0]] as const) {
 *   scaler.transform(x, z); // statistics before the row
 *   head.partialFit(z, y);
 *   scaler.learn(x);
 * }
 * const copy = restoreHead(head.exportState()); // continues bit for bit
 * ```
 */
import { LearnerError } from '../errors.ts';
import { resolveConfig, type SingleConfig } from './config.ts';
import type { LinearModel } from './linear_model/base.ts';
import { LinearRegression } from './linear_model/linear.ts';
import { LogisticRegression } from './linear_model/logistic.ts';
import { SoftmaxRegression } from './linear_model/softmax.ts';
import { MixtureHead } from './mixture/mixture_head.ts';
import { seedMixture } from './mixture/seed.ts';
import type { Head, HeadConfig, HeadState, MixtureConfig } from './types.ts';

export { resolveConfig } from './config.ts';
export { CHECKPOINT_EVERY } from './linear_model/base.ts';
export { MixtureHead } from './mixture/mixture_head.ts';
export { type ScalerState, StandardScaler } from './scaler.ts';
export type * from './types.ts';

function single(resolved: SingleConfig): LinearModel {
  switch (resolved.task) {
    case 'binary':
      return new LogisticRegression(resolved);
    case 'multiclass':
      return new SoftmaxRegression(resolved);
    case 'regression':
      return new LinearRegression(resolved);
  }
}

function build(config: HeadConfig): LinearModel | MixtureHead {
  const resolved = resolveConfig(config);
  const { optimizer } = resolved;
  if (optimizer.kind === 'mixture') return new MixtureHead({ ...resolved, optimizer }, single);
  return single({ ...resolved, optimizer });
}

/** A fresh head (zero weights); throws `LearnerError('BAD_CONFIG')` for an unusable config. */
export function createHead(config: HeadConfig): Head {
  return build(config);
}

/** The head a state was exported from, ready to continue learning exactly where it stopped. */
export function restoreHead(state: HeadState): Head {
  if (typeof state !== 'object' || state === null || typeof state.config !== 'object') {
    throw new LearnerError('BAD_CONFIG', 'not a head state');
  }
  const head = build(state.config);
  head.load(state);
  return head;
}

/**
 * The default head started from `state`: a single head's state (a version's server head)
 * seeds every candidate of a mixture (see `mixture/seed.ts`); a mixture's state is restored.
 */
export function seedHead(state: HeadState, mixture?: MixtureConfig): Head {
  return seedMixture(state, restoreHead, createHead, mixture);
}
