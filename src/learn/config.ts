/**
 * Fills in and checks a {@link HeadConfig}. The defaults are scikit-learn's, so a head works
 * without tuning and behaves like the library most people already know:
 *
 * - the optimizer: a mixture (`mixture/`) of the task's scikit-learn SGD and AdaGrad, fixed
 *   share 0.001, smoothing 0.03; a single optimizer by `optimizer: { kind: 'sgd' | 'adagrad' | 'ftrl' }`;
 * - binary / multiclass SGD: schedule 'optimal', l2 = 1e-4 (`SGDClassifier`'s defaults);
 * - regression SGD: schedule 'invscaling', eta0 = 0.01, powerT = 0.25, l2 = 1e-4
 *   (`SGDRegressor`'s defaults);
 * - l1 = 0, fitIntercept = true; binary classes = [0, 1];
 * - SGD eta0 = 0.01 when a schedule that needs it is chosen, powerT = 0.5 for classifiers;
 *   AdaGrad eta0 = 0.1, epsilon = 1e-8; FTRL alpha = 0.1, beta = 1.
 *
 * ```ts
 * import { resolveConfig } from './config.ts';
 * resolveConfig({ task: 'regression', dim: 3, optimizer: { kind: 'sgd' } }).optimizer;
 * // { kind: 'sgd', schedule: 'invscaling', eta0: 0.01, powerT: 0.25 }
 * ```
 */
import { LearnerError } from '../errors.ts';
import type { HeadConfig, HeadState, OptimizerConfig, SingleOptimizerConfig } from './types.ts';

/** A single optimizer's settings with every default filled in. */
export type ResolvedOptimizer = Required<SingleOptimizerConfig>;

/** A mixture's settings with every default filled in. */
export interface ResolvedMixture {
  kind: 'mixture';
  candidates: ResolvedOptimizer[];
  share: number;
  smoothing: number;
}

/** A config with every default filled in; what `HeadState.config` holds. */
export type ResolvedConfig = Omit<HeadState['config'], 'optimizer'> & {
  optimizer: ResolvedOptimizer | ResolvedMixture;
};

/** A resolved config of one linear head (one optimizer): what a mixture's candidates are. */
export type SingleConfig = ResolvedConfig & { optimizer: ResolvedOptimizer };

/**
 * The default candidates of a mixture: the task's scikit-learn SGD (right on Elec2 and on
 * slowly drifting multiclass data) and AdaGrad (right on a fresh head, on unscaled or
 * drifting features). Measured in bench/quality_streams.ts.
 */
export const DEFAULT_CANDIDATES: readonly SingleOptimizerConfig[] = [
  { kind: 'sgd' },
  { kind: 'adagrad' },
];

const DEFAULT_SHARE = 0.001;
const DEFAULT_SMOOTHING = 0.03;

function fail(message: string): never {
  throw new LearnerError('BAD_CONFIG', message);
}

function number(value: unknown, fallback: number, name: string, min: number, open: boolean) {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || (open ? value <= min : value < min)) {
    fail(`${name} must be a finite number ${open ? '>' : '≥'} ${min}, got ${String(value)}`);
  }
  return value;
}

export function resolveConfig(config: HeadConfig): ResolvedConfig {
  if (typeof config !== 'object' || config === null) fail('a head needs a config object');
  const { task } = config;
  if (task !== 'binary' && task !== 'multiclass' && task !== 'regression') {
    fail(`task must be 'binary', 'multiclass' or 'regression', got ${String(task)}`);
  }
  if (!Number.isInteger(config.dim) || config.dim <= 0) {
    fail(`dim must be a positive integer, got ${String(config.dim)}`);
  }
  const classes = resolveClasses(config);
  const l2 = number(config.l2, 1e-4, 'l2', 0, false);
  const l1 = number(config.l1, 0, 'l1', 0, false);
  const fitIntercept = config.fitIntercept ?? true;
  if (typeof fitIntercept !== 'boolean') fail('fitIntercept must be a boolean');
  const optimizer = resolveOptimizer(config.optimizer, task === 'regression');
  const singles = optimizer.kind === 'mixture' ? optimizer.candidates : [optimizer];
  for (const single of singles) {
    if (single.kind === 'sgd' && single.schedule === 'optimal' && !(l1 + l2 > 0)) {
      fail("the 'optimal' schedule needs a positive regularisation strength (l2 + l1 > 0)");
    }
  }
  return { task, dim: config.dim, classes, optimizer, l2, l1, fitIntercept };
}

function resolveClasses(config: HeadConfig): (string | number)[] {
  const given = config.classes;
  if (config.task === 'regression') {
    if (given !== undefined && given.length > 0) fail('a regression head has no classes');
    return [];
  }
  if (given === undefined) {
    if (config.task === 'binary') return [0, 1];
    fail('a multiclass head needs its classes');
  }
  if (!Array.isArray(given)) fail('classes must be an array');
  for (const c of given) {
    if (typeof c === 'number' ? !Number.isFinite(c) : typeof c !== 'string') {
      fail(`classes must be strings or finite numbers, got ${String(c)}`);
    }
  }
  if (new Set(given).size !== given.length) fail('classes must be distinct');
  if (config.task === 'binary' && given.length !== 2) {
    fail(`a binary head needs exactly 2 classes, got ${given.length}`);
  }
  if (config.task === 'multiclass' && given.length < 2) {
    fail(`a multiclass head needs at least 2 classes, got ${given.length}`);
  }
  return [...given];
}

function resolveOptimizer(
  given: OptimizerConfig | undefined,
  regression: boolean,
): ResolvedOptimizer | ResolvedMixture {
  const config = given ?? { kind: 'mixture' };
  if (typeof config !== 'object' || config === null) fail('optimizer must be an object');
  if (config.kind !== 'mixture') return resolveSingle(config, regression);
  const candidates = config.candidates ?? DEFAULT_CANDIDATES;
  if (!Array.isArray(candidates) || candidates.length < 1 || candidates.length > 8) {
    fail('a mixture needs 1 to 8 candidates');
  }
  const share = number(config.share, DEFAULT_SHARE, 'share', 0, false);
  if (share >= 1) fail(`share must be < 1, got ${share}`);
  const smoothing = number(config.smoothing, DEFAULT_SMOOTHING, 'smoothing', 0, false);
  if (smoothing >= 1) fail(`smoothing must be < 1, got ${smoothing}`);
  return {
    kind: 'mixture',
    candidates: candidates.map((candidate) => {
      if ((candidate as { kind?: unknown })?.kind === 'mixture') fail('a mixture cannot nest');
      return resolveSingle(candidate, regression);
    }),
    share,
    smoothing,
  };
}

function resolveSingle(config: SingleOptimizerConfig, regression: boolean): ResolvedOptimizer {
  if (typeof config !== 'object' || config === null) fail('optimizer must be an object');
  switch (config.kind) {
    case 'sgd': {
      const schedule = config.schedule ?? (regression ? 'invscaling' : 'optimal');
      if (schedule !== 'constant' && schedule !== 'invscaling' && schedule !== 'optimal') {
        fail(`schedule must be 'constant', 'invscaling' or 'optimal', got ${String(schedule)}`);
      }
      return {
        kind: 'sgd',
        schedule,
        eta0: number(config.eta0, 0.01, 'eta0', 0, true),
        powerT: number(config.powerT, regression ? 0.25 : 0.5, 'powerT', 0, false),
      };
    }
    case 'adagrad':
      return {
        kind: 'adagrad',
        eta0: number(config.eta0, 0.1, 'eta0', 0, true),
        epsilon: number(config.epsilon, 1e-8, 'epsilon', 0, true),
      };
    case 'ftrl':
      return {
        kind: 'ftrl',
        alpha: number(config.alpha, 0.1, 'alpha', 0, true),
        beta: number(config.beta, 1, 'beta', 0, false),
      };
    default:
      fail(
        `optimizer.kind must be 'mixture', 'sgd', 'adagrad' or 'ftrl', got ${String((config as { kind?: unknown }).kind)}`,
      );
  }
}
