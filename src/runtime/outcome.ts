/**
 * An outcome as the app reports it and as the reporter counts it: what the app said about it
 * (checked here, before anything is stored), what the loss alone does not tell, and which of
 * its input values may be summarised.
 */
import type { FeatureSpec } from '../backbone/feature_spec.ts';
import { isIdInput } from '../backbone/feature_spec.ts';
import type { PackedBatch } from '../backbone/features.ts';
import { LearnerError } from '../errors.ts';
import type { Label } from '../learn/types.ts';
import type { OutcomeReport } from '../store/schema.ts';
import type { ObserveOptions } from './options.ts';

/** What the app said about an outcome, as the log keeps it (undefined: nothing). */
export function outcomeReport(options: ObserveOptions): OutcomeReport | undefined {
  const report: OutcomeReport = {};
  if (options.kind !== undefined) {
    if (!['impression', 'click', 'conversion'].includes(options.kind)) {
      throw new LearnerError('BAD_INPUT', `unknown outcome kind ${String(options.kind)}`);
    }
    report.kind = options.kind;
  }
  if (options.slate !== undefined) {
    const { id, candidate, gain } = options.slate;
    if (typeof id !== 'string' || id === '' || !Number.isInteger(candidate) || candidate < 0) {
      throw new LearnerError(
        'BAD_INPUT',
        'a slate outcome needs the slate id and a candidate index',
      );
    }
    if (gain !== undefined && !(Number.isFinite(gain) && gain >= 0)) {
      throw new LearnerError('BAD_INPUT', 'a slate gain is a finite number ≥ 0');
    }
    report.slate = { id, candidate, ...(gain !== undefined ? { gain } : {}) };
  }
  return report.kind || report.slate ? report : undefined;
}

/** What the loss alone does not tell the reporter: a regression's value, a multiclass hit. */
export function outcomeQuality(
  task: FeatureSpec['task'],
  predicted: Label,
  label: Label,
): { prediction?: number; correct?: boolean } {
  if (task === 'regression') return { prediction: predicted as number };
  if (task === 'multiclass') return { correct: predicted === label };
  return {};
}

/**
 * The example's values for the metrics' feature moments: ids name things rather than measure
 * them (their mean means nothing, and one id can identify what the person chose), so they stay.
 */
export function measurements(
  spec: FeatureSpec,
  columns: PackedBatch['columns'],
): PackedBatch['columns'] {
  const ids = spec.inputs.filter(isIdInput);
  if (ids.length === 0) return columns;
  const kept = { ...columns };
  for (const input of ids) delete kept[input.name];
  return kept;
}
