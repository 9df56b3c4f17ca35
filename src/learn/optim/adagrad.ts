/**
 * AdaGrad with diagonal preconditioning: Duchi, Hazan & Singer (2011), "Adaptive Subgradient
 * Methods for Online Learning and Stochastic Optimization", JMLR 12. Each coordinate gets
 * its own step η / (ε + sqrt(Σ g²)), so rare or small-scale features still learn quickly
 * while frequent ones settle; this makes it far less sensitive to feature scaling and to
 * the choice of η than plain SGD.
 *
 * Regularisation: L2 is added to the gradient (g + l2·w) before it is accumulated. L1 is
 * the paper's composite-mirror-descent step for the diagonal case (Section 5.1, the
 * closed-form update for λ‖x‖₁): a step of η/H_ii followed by soft-thresholding at
 * l1·η/H_ii, H_ii = ε + sqrt(G_ii), which yields exact zeros. Because the threshold is
 * applied step by step, a zero sticks only while the coordinate's per-example gradient stays
 * below l1 (e.g. a feature that is mostly absent); for sparse models on noisy features use
 * FTRL, whose accumulated z keeps weak features at zero. The intercept is adapted the same
 * way but never penalised.
 *
 * Parameters: `eta0` (η, default 0.1), `epsilon` (the paper's δ, default 1e-8: only keeps
 * the first step finite). Slots: `g2` (Σ g² per weight), `g2Intercept` (per output).
 *
 * ```ts
 * import { createHead } from '../index.ts';
 * const head = createHead({ task: 'regression', dim: 1, optimizer: { kind: 'adagrad', eta0: 0.5 } });
 * for (let i = 0; i < 2000; i++) head.partialFit([i % 3], 2 * (i % 3) + 1);
 * head.predict([1]); // ≈ 3
 * ```
 */
import type { Vector } from '../types.ts';
import { Optimizer, type Params } from './optimizer.ts';

export interface AdaGradConfig {
  kind: 'adagrad';
  eta0: number;
  epsilon: number;
}

export class AdaGrad extends Optimizer {
  readonly config: Required<AdaGradConfig>;
  private readonly g2: Float64Array;
  private readonly g2Intercept: Float64Array;

  private readonly l2: number;
  private readonly l1: number;
  constructor(config: AdaGradConfig, l2: number, l1: number, size: number, outputs: number) {
    const g2 = new Float64Array(size);
    const g2Intercept = new Float64Array(outputs);
    super({ g2, g2Intercept });
    this.l2 = l2;
    this.l1 = l1;
    this.g2 = g2;
    this.g2Intercept = g2Intercept;
    this.config = { kind: 'adagrad', eta0: config.eta0, epsilon: config.epsilon };
  }

  step(p: Params, x: Vector, offset: number, grad: Float64Array): void {
    const { epsilon } = this.config;
    const eta = this.config.eta0 * this.rateScale[0];
    const { l1, l2, g2 } = this;
    const w = p.weights;
    const d = p.dim;
    let sum = 0;
    for (let k = 0; k < p.outputs; k++) {
      const gk = grad[k];
      const row = k * d;
      for (let j = 0; j < d; j++) {
        const i = row + j;
        const g = gk * x[offset + j] + l2 * w[i];
        const acc = g2[i] + g * g;
        g2[i] = acc;
        const step = eta / (epsilon + Math.sqrt(acc));
        let v = w[i] - step * g;
        if (l1 > 0) {
          // Soft-threshold at l1·step: the prox of l1‖w‖₁ under AdaGrad's metric.
          const shrink = l1 * step;
          // v − v is 0 for finite v but keeps a NaN visible to the health check.
          v = v > shrink ? v - shrink : v < -shrink ? v + shrink : v - v;
        }
        w[i] = v;
        sum += v;
      }
      if (p.fitIntercept) {
        const acc = this.g2Intercept[k] + gk * gk;
        this.g2Intercept[k] = acc;
        p.intercepts[k] -= (eta / (epsilon + Math.sqrt(acc))) * gk;
        sum += p.intercepts[k];
      }
    }
    this.health = Math.abs(sum);
  }
}
