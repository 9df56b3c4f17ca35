/**
 * The contract between the on-device heads and everything that drives them
 * (the worker, the command line, benchmarks). Implementations live beside this file.
 */

export type Task = 'binary' | 'multiclass' | 'regression';

/** A label as the app gives it: a class name or index, or a regression target. */
export type Label = number | string | boolean;

/** A dense feature vector. Typed arrays avoid copies; plain arrays are accepted. */
export type Vector = ArrayLike<number>;

export type Schedule = 'constant' | 'invscaling' | 'optimal';

/** One optimizer driving one linear head. */
export type SingleOptimizerConfig =
  | {
      kind: 'sgd';
      /** Learning-rate schedule, as in scikit-learn's `SGDClassifier(learning_rate=…)`. */
      schedule?: Schedule;
      /** Initial learning rate (`constant`, `invscaling`). */
      eta0?: number;
      /** Exponent of `invscaling`: eta = eta0 / t^powerT. */
      powerT?: number;
    }
  | { kind: 'adagrad'; eta0?: number; epsilon?: number }
  | {
      kind: 'ftrl';
      /** Per-coordinate learning-rate scale (McMahan et al., 2013: α). */
      alpha?: number;
      /** Per-coordinate learning-rate smoothing (β). */
      beta?: number;
    };

/**
 * The default: several candidate heads (each a single optimizer) on the same features, whose
 * predictions are mixed by exponential weights on their losses (`src/learn/mixture/`).
 */
export interface MixtureConfig {
  kind: 'mixture';
  /** The candidates (default: SGD with the task's scikit-learn schedule, and AdaGrad). */
  candidates?: SingleOptimizerConfig[];
  /**
   * Fixed share α (Herbster & Warmuth 1998): the share of weight spread back over every
   * candidate after each update, so a candidate that fell behind can lead again after a
   * change. Default 0.001.
   */
  share?: number;
  /**
   * ε: the weights learn from each candidate's class probabilities mixed with ε of uniform,
   * which bounds the cost of one confident mistake at ln(classes/ε). Default 0.03.
   */
  smoothing?: number;
}

export type OptimizerConfig = SingleOptimizerConfig | MixtureConfig;

export interface HeadConfig {
  task: Task;
  /** Number of input features. */
  dim: number;
  /** Class labels. Binary defaults to [0, 1]; multiclass requires them. */
  classes?: readonly (string | number)[];
  optimizer?: OptimizerConfig;
  /** L2 strength (scikit-learn's `alpha` when the penalty is L2). */
  l2?: number;
  /** L1 strength. */
  l1?: number;
  fitIntercept?: boolean;
}

/** Everything needed to resume a head exactly; structured-clone friendly. */
export interface HeadState {
  config: Required<Omit<HeadConfig, 'classes'>> & { classes: (string | number)[] };
  /** Row-major weights: outputs × dim. */
  weights: Float64Array;
  intercepts: Float64Array;
  /** Optimizer accumulators, keyed by name (e.g. AdaGrad's squared gradients, FTRL's z and n). */
  slots: Record<string, Float64Array>;
  /** Number of updates applied so far (drives the learning-rate schedules). */
  t: number;
  /** Extra scalars some penalties keep (e.g. the cumulative L1 penalty). */
  scalars: Record<string, number>;
}

export interface Head {
  readonly task: Task;
  readonly dim: number;
  /** 1 for binary and regression, the number of classes for multiclass. */
  readonly outputs: number;
  readonly classes: readonly (string | number)[];
  /** Number of updates applied. */
  readonly updates: number;
  /**
   * Multiplies the step size of every following update (default 1): SGD's and AdaGrad's η,
   * and for FTRL the example's gradient (its closed-form weights would otherwise all jump).
   * A drift policy (`src/drift/policy.ts`) raises it after a change and lets it decay back.
   * A value that is not finite and > 0 throws BAD_CONFIG and changes nothing. It is not part
   * of {@link exportState}: whoever sets it keeps it (the policy's own state) and sets it
   * again on a restored head.
   */
  learningRateMultiplier: number;
  /**
   * Where the multiplier lives: `[0]` is {@link learningRateMultiplier}. On the per-event path
   * write it here: no double then passes through a call, which V8 may box (allocate) when it
   * declines to inline the setter. Unchecked: keep it finite and > 0 (a non-finite one makes
   * the next update throw NON_FINITE and roll back).
   */
  readonly learningRateScale: Float64Array;

  /**
   * Mixture heads: the candidates by name (e.g. 'sgd', 'adagrad') and their current weights,
   * leader first; single heads: their optimizer with weight 1.
   */
  candidates(): { name: string; weight: number }[];
  /** Mixture heads: the leading candidate's name, without allocating; single heads: undefined. */
  leaderName(): string | undefined;

  /** Learns from one example. Allocates nothing. Throws LearnerError and changes nothing on bad input. */
  partialFit(x: Vector, y: Label): void;
  /** Learns from n examples stored row-major in `xs` (n × dim), one update per example, in order. */
  partialFitMany(xs: Vector, ys: ArrayLike<Label>): void;
  /**
   * The score the app sees: P(positive class) for binary, the prediction for regression,
   * P(argmax class) for multiclass.
   */
  score(x: Vector): number;
  /** Class probabilities (binary: [P(neg), P(pos)]), written into `out` when given. */
  predictProba(x: Vector, out?: Float64Array): Float64Array;
  /** Predicted label (classification) or value (regression). */
  predict(x: Vector): Label;
  /** Loss of the current model on one example, without learning (log loss or squared error). */
  loss(x: Vector, y: Label): number;

  exportState(): HeadState;
}
