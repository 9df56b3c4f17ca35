/**
 * On-device heads: online linear models that learn one example at a time.
 *
 * - {@link createHead} builds a logistic (binary), softmax (multiclass) or linear
 *   (regression) head with SGD, AdaGrad or FTRL-Proximal and L2/L1 regularisation.
 * - {@link restoreHead} resumes one exactly from {@link Head.exportState}.
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
import { resolveConfig } from './config.ts';
import type { LinearModel } from './linear_model/base.ts';
import { LinearRegression } from './linear_model/linear.ts';
import { LogisticRegression } from './linear_model/logistic.ts';
import { SoftmaxRegression } from './linear_model/softmax.ts';
import type { Head, HeadConfig, HeadState } from './types.ts';

export { resolveConfig } from './config.ts';
export { CHECKPOINT_EVERY } from './linear_model/base.ts';
export { type ScalerState, StandardScaler } from './scaler.ts';
export type * from './types.ts';

function build(config: HeadConfig): LinearModel {
  const resolved = resolveConfig(config);
  switch (resolved.task) {
    case 'binary':
      return new LogisticRegression(resolved);
    case 'multiclass':
      return new SoftmaxRegression(resolved);
    case 'regression':
      return new LinearRegression(resolved);
  }
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
