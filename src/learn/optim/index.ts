/**
 * Builds an optimizer from a head's resolved configuration. Defaults are filled in by
 * `resolveConfig` (`../config.ts`); here every field is already present and validated.
 *
 * ```ts
 * import { createOptimizer } from './index.ts';
 * const sgd = createOptimizer({ kind: 'sgd', schedule: 'optimal', eta0: 0.01, powerT: 0.5 }, 1e-4, 0, 64, 1);
 * ```
 */
import { LearnerError } from '../../errors.ts';
import type { SingleOptimizerConfig } from '../types.ts';
import { AdaGrad } from './adagrad.ts';
import { FTRL } from './ftrl.ts';
import type { Optimizer } from './optimizer.ts';
import { SGD } from './sgd.ts';

export { AdaGrad } from './adagrad.ts';
export { FTRL } from './ftrl.ts';
export { Optimizer, type Params, SAFE_BOUND } from './optimizer.ts';
export { createSchedule, type LearningRate } from './schedules.ts';
export { SGD } from './sgd.ts';

/** `size` = outputs × dim weights. */
export function createOptimizer(
  config: Required<SingleOptimizerConfig>,
  l2: number,
  l1: number,
  size: number,
  outputs: number,
): Optimizer {
  switch (config.kind) {
    case 'sgd':
      return new SGD(config, l2, l1, size);
    case 'adagrad':
      return new AdaGrad(config, l2, l1, size, outputs);
    case 'ftrl':
      return new FTRL(config, l2, l1, size, outputs);
    default:
      throw new LearnerError(
        'BAD_CONFIG',
        `unknown optimizer ${String((config as { kind?: unknown }).kind)}`,
      );
  }
}
