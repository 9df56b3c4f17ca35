/**
 * Guardrails: the device's own, immediate verdict on a staged version. The fleet's promote or
 * roll back decision waits for enough paired comparisons (see the server's rollout policy); a
 * staged version that throws, answers with non-finite scores or is too slow for the app is
 * taken out of service on the device at once, without waiting for anyone, and the reason is
 * reported. Production answers instead, so the app sees no failed prediction.
 *
 * ```ts
 * import { Guardrails } from './guardrails.ts';
 * const guard = new Guardrails({ latencyBudgetMs: 100, slowCallsInARow: 1 });
 * const trip = guard.checkPrediction(new Float32Array([0.4, Number.NaN]), 3);
 * trip?.kind; // 'non_finite' — and trip.reason is 'non_finite: score 1 is NaN'
 * ```
 */
import { describeError, isLearnerError } from '../errors.ts';

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

/**
 * Why a staged version must go: the kind, and the reason as reported (`<kind>: <details>`, the
 * form the server and the app see in rollback events).
 */
export interface GuardrailTrip {
  kind: 'error' | 'non_finite' | 'latency';
  reason: string;
}

/**
 * The reason recorded with a rollback by a guardrail (in the version's history, in the event
 * the app and the server receive), and its test: one home for the form, so nothing else parses it.
 */
export function guardrailRollbackReason(trip: GuardrailTrip): string {
  return `guardrail ${trip.reason}`;
}

export function isGuardrailRollback(reason: string | undefined): boolean {
  return reason?.startsWith('guardrail ') === true;
}

function trip(kind: GuardrailTrip['kind'], details: string): GuardrailTrip {
  return { kind, reason: `${kind}: ${details}`.slice(0, 500) };
}

export class Guardrails {
  private readonly options: Required<GuardrailOptions>;
  private slowInARow = 0;

  constructor(options: GuardrailOptions = {}) {
    this.options = { ...DEFAULT_GUARDRAILS, ...options };
  }

  /** After a staged prediction: a reason to roll back, or undefined. */
  checkPrediction(scores: ArrayLike<number>, elapsedMs: number): GuardrailTrip | undefined {
    const nonFinite = firstNonFinite(scores);
    if (nonFinite !== undefined)
      return trip('non_finite', `score ${nonFinite} is ${scores[nonFinite]}`);
    if (elapsedMs >= this.options.latencyBudgetMs) {
      this.slowInARow++;
      if (this.slowInARow >= this.options.slowCallsInARow) {
        return trip(
          'latency',
          `${this.slowInARow} calls in a row at or over ${this.options.latencyBudgetMs} ms (last ${elapsedMs.toFixed(1)} ms)`,
        );
      }
    } else {
      this.slowInARow = 0;
    }
    return undefined;
  }

  /** Before a staged head learns an outcome: its loss must be a number. */
  checkLoss(loss: number): GuardrailTrip | undefined {
    return Number.isFinite(loss) ? undefined : trip('non_finite', `loss is ${loss}`);
  }

  /** A staged version threw where production did not. */
  static error(error: unknown): GuardrailTrip {
    if (isLearnerError(error) && error.code === 'MODEL_OUTPUT_NON_FINITE') {
      return trip('non_finite', error.message);
    }
    return trip('error', describeError(error));
  }
}

function firstNonFinite(values: ArrayLike<number>): number | undefined {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return i;
  return undefined;
}
