/**
 * Guardrails: the device's own, immediate verdict on a staged version. The fleet's promote or
 * roll back decision waits for enough paired comparisons (see the server's rollout policy); a
 * staged version that throws, answers with non-finite scores or is too slow for the app is
 * taken out of service on the device at once, without waiting for anyone, and the reason is
 * reported. Production answers instead, so the app sees no failed prediction.
 *
 * ```ts
 * const guard = new Guardrails({ latencyBudgetMs: 100 });
 * const why = guard.checkPrediction(scores, elapsedMs); // 'latency: …' after 3 slow calls in a row
 * ```
 */
import { isLearnerError } from '../errors.ts';

export interface GuardrailOptions {
  /**
   * A staged predict call that takes this long or longer (milliseconds, whole call) counts as
   * slow (default 250). "Or longer": Firefox and WebKit coarsen `performance.now()` outside
   * cross-origin isolation, so a fast call can read 0 ms, and a budget of 0 must still mean
   * every call is too slow.
   */
  latencyBudgetMs?: number;
  /** This many slow calls in a row roll the staged version back (default 3); one is noise. */
  slowCallsInARow?: number;
}

export const DEFAULT_GUARDRAILS: Required<GuardrailOptions> = {
  latencyBudgetMs: 250,
  slowCallsInARow: 3,
};

/** Why a staged version must go: `<code>: <details>`, codes `error`, `non_finite`, `latency`. */
export type GuardrailReason = string;

export class Guardrails {
  private readonly options: Required<GuardrailOptions>;
  private slowInARow = 0;

  constructor(options: GuardrailOptions = {}) {
    this.options = { ...DEFAULT_GUARDRAILS, ...options };
  }

  /** After a staged prediction: a reason to roll back, or undefined. */
  checkPrediction(scores: ArrayLike<number>, elapsedMs: number): GuardrailReason | undefined {
    const nonFinite = firstNonFinite(scores);
    if (nonFinite !== undefined) return `non_finite: score ${nonFinite} is ${scores[nonFinite]}`;
    if (elapsedMs >= this.options.latencyBudgetMs) {
      this.slowInARow++;
      if (this.slowInARow >= this.options.slowCallsInARow) {
        return `latency: ${this.slowInARow} calls in a row at or over ${this.options.latencyBudgetMs} ms (last ${elapsedMs.toFixed(1)} ms)`;
      }
    } else {
      this.slowInARow = 0;
    }
    return undefined;
  }

  /** Before a staged head learns an outcome: its loss must be a number. */
  checkLoss(loss: number): GuardrailReason | undefined {
    return Number.isFinite(loss) ? undefined : `non_finite: loss is ${loss}`;
  }

  /** A staged version threw where production did not. */
  static error(error: unknown): GuardrailReason {
    if (isLearnerError(error) && error.code === 'MODEL_OUTPUT_NON_FINITE') {
      return `non_finite: ${error.message}`.slice(0, 500);
    }
    return `error: ${error instanceof Error ? error.message : String(error)}`.slice(0, 500);
  }
}

function firstNonFinite(values: ArrayLike<number>): number | undefined {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return i;
  return undefined;
}
