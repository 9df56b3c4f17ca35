/**
 * FTRL-Proximal: McMahan et al. (2013), "Ad Click Prediction: a View from the Trenches",
 * KDD, Algorithm 1 (per-coordinate learning rates). Instead of stepping the weights, it
 * keeps per coordinate the sum of gradients corrected for the moving proximal centre (z)
 * and the sum of squared gradients (n), and computes each weight in closed form:
 *
 *   w_i = 0                                                  if |z_i| ≤ λ1
 *   w_i = −(z_i − sgn(z_i)·λ1) / ((β + sqrt(n_i)) / α + λ2)   otherwise
 *
 * The L1 term therefore gives exact zeros whenever a feature's accumulated evidence is
 * weaker than λ1, which is why FTRL is the usual choice for sparse models.
 *
 * Parameters: `alpha` (α, per-coordinate learning-rate scale, default 0.1), `beta` (β,
 * smoothing of the rate for coordinates with few updates, default 1, as the paper advises);
 * the head's `l1` and `l2` are the paper's λ1 and λ2. Note that, unlike SGD's per-example
 * penalties, λ1 and λ2 act once on the whole accumulated objective, so useful values are
 * larger (λ1 of 0.1–10). The intercept is a coordinate with λ1 = λ2 = 0.
 *
 * The paper computes w lazily from z and n before each prediction; with dense inputs every
 * coordinate is touched on every update anyway, so we store w after updating z and n,
 * which gives the same weights and keeps prediction a plain dot product.
 *
 * Slots: `z`, `n` (per weight), `zIntercept`, `nIntercept` (per output).
 *
 * ```ts
 * import { createHead } from '../index.ts';
 * const head = createHead({ task: 'binary', dim: 3, l1: 1, optimizer: { kind: 'ftrl' } });
 * for (let i = 0; i < 1000; i++) head.partialFit([i % 2 ? 1 : -1, Math.sin(i), Math.cos(i)], i % 2);
 * head.exportState().weights; // the first weight is large, the noise weights are exactly 0
 * ```
 */
import type { Vector } from '../types.ts';
import { Optimizer, type Params } from './optimizer.ts';

export interface FTRLConfig {
  kind: 'ftrl';
  alpha: number;
  beta: number;
}

export class FTRL extends Optimizer {
  readonly config: Required<FTRLConfig>;
  private readonly z: Float64Array;
  private readonly n: Float64Array;
  private readonly zIntercept: Float64Array;
  private readonly nIntercept: Float64Array;
  /**
   * sqrt(n), kept beside n (and rebuilt from it on load) so each update takes one square
   * root per coordinate instead of two; sqrt is correctly rounded, so resuming stays exact.
   */
  private readonly roots: Float64Array;
  private readonly rootsIntercept: Float64Array;
  private readonly invAlpha: number;

  private readonly l2: number;
  private readonly l1: number;
  constructor(config: FTRLConfig, l2: number, l1: number, size: number, outputs: number) {
    const z = new Float64Array(size);
    const n = new Float64Array(size);
    const zIntercept = new Float64Array(outputs);
    const nIntercept = new Float64Array(outputs);
    super({ z, n, zIntercept, nIntercept });
    this.l2 = l2;
    this.l1 = l1;
    this.z = z;
    this.n = n;
    this.zIntercept = zIntercept;
    this.nIntercept = nIntercept;
    this.config = { kind: 'ftrl', alpha: config.alpha, beta: config.beta };
    this.roots = new Float64Array(size);
    this.rootsIntercept = new Float64Array(outputs);
    this.invAlpha = 1 / config.alpha;
  }

  step(p: Params, x: Vector, offset: number, grad: Float64Array): void {
    const { beta } = this.config;
    const { l1, l2, z, n, roots, invAlpha } = this;
    const w = p.weights;
    const d = p.dim;
    // FTRL computes the weights in closed form from z and n, so scaling α would rescale every
    // weight at once rather than the step; the multiplier scales the example's gradient
    // instead (an importance weight), which is how its step grows.
    const scale = this.rateScale[0];
    let sum = 0;
    for (let k = 0; k < p.outputs; k++) {
      const gk = grad[k] * scale;
      const row = k * d;
      for (let j = 0; j < d; j++) {
        const i = row + j;
        const g = gk * x[offset + j];
        const nNew = n[i] + g * g;
        const root = Math.sqrt(nNew);
        // σ_i = (sqrt(n_i + g_i²) − sqrt(n_i)) / α: the increase in proximal strength.
        const zi = z[i] + g - (root - roots[i]) * invAlpha * w[i];
        z[i] = zi;
        n[i] = nNew;
        roots[i] = root;
        let v = 0;
        if (zi > l1) v = (l1 - zi) / ((beta + root) * invAlpha + l2);
        // Written as !(≥) so that a NaN z yields a NaN weight the health check can see.
        else if (!(zi >= -l1)) v = (-l1 - zi) / ((beta + root) * invAlpha + l2);
        w[i] = v;
        sum += v;
      }
      if (p.fitIntercept) {
        const nNew = this.nIntercept[k] + gk * gk;
        const root = Math.sqrt(nNew);
        const rootOld = this.rootsIntercept[k];
        const zi = this.zIntercept[k] + gk - (root - rootOld) * invAlpha * p.intercepts[k];
        this.zIntercept[k] = zi;
        this.nIntercept[k] = nNew;
        this.rootsIntercept[k] = root;
        p.intercepts[k] = -zi / ((beta + root) * invAlpha);
        sum += p.intercepts[k];
      }
    }
    this.health = Math.abs(sum);
  }

  protected override derive(): void {
    for (let i = 0; i < this.n.length; i++) this.roots[i] = Math.sqrt(this.n[i]);
    for (let k = 0; k < this.nIntercept.length; k++) {
      this.rootsIntercept[k] = Math.sqrt(this.nIntercept[k]);
    }
  }
}
