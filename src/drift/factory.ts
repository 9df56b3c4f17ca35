/**
 * Builds a change detector by name, and resumes any detector from its exported state, so the
 * worker (and the command line's `--drift`) can pick one from configuration and persist it
 * without knowing which it is.
 *
 * Which to choose:
 * - 'adwin' (the default choice for an error stream): no window length to tune, adapts its
 *   window, few false alarms; detects both increases and decreases.
 * - 'ph' (Page-Hinkley): the cheapest (constant state), for a rise of the mean; its
 *   threshold is in the units of the values, so scale it to their spread.
 * - 'kswin': compares whole distributions (catches a change of spread or shape), best on
 *   continuous values such as scores or regression errors, coarse on 0/1 streams.
 *
 * ```ts
 * import { createDetector, restoreDetector } from './factory.ts';
 * const detector = createDetector('ph', { threshold: 30 });
 * detector.update(0);
 * const resumed = restoreDetector(detector.exportState());
 * ```
 */
import { LearnerError } from '../errors.ts';
import { Adwin, type AdwinOptions, type AdwinState } from './adwin.ts';
import type { DetectorKind, DriftDetector } from './detector.ts';
import { Kswin, type KswinOptions, type KswinState } from './kswin.ts';
import { PageHinkley, type PageHinkleyOptions, type PageHinkleyState } from './page_hinkley.ts';

export const DETECTOR_KINDS: readonly DetectorKind[] = ['adwin', 'ph', 'kswin'];

export interface DetectorOptions {
  adwin: AdwinOptions;
  ph: PageHinkleyOptions;
  kswin: KswinOptions;
}

export type AnyDetectorState = AdwinState | PageHinkleyState | KswinState;

/** A detector of any kind, whose state {@link restoreDetector} reads back. */
export type AnyDetector = DriftDetector<AnyDetectorState>;

export function createDetector(kind: 'adwin', options?: AdwinOptions): Adwin;
export function createDetector(kind: 'ph', options?: PageHinkleyOptions): PageHinkley;
export function createDetector(kind: 'kswin', options?: KswinOptions): Kswin;
export function createDetector<K extends DetectorKind>(
  kind: K,
  options?: DetectorOptions[K],
): AnyDetector;
export function createDetector(kind: DetectorKind, options: object = {}): AnyDetector {
  switch (kind) {
    case 'adwin':
      return new Adwin(options);
    case 'ph':
      return new PageHinkley(options);
    case 'kswin':
      return new Kswin(options);
    default:
      throw new LearnerError(
        'BAD_CONFIG',
        `unknown drift detector '${String(kind)}'; one of ${DETECTOR_KINDS.join(', ')}`,
      );
  }
}

/** Resumes the detector an `exportState()` came from; BAD_CONFIG if the state is corrupt. */
export function restoreDetector(state: AnyDetectorState): AnyDetector {
  switch (state?.kind) {
    case 'adwin':
      return Adwin.restore(state);
    case 'ph':
      return PageHinkley.restore(state);
    case 'kswin':
      return Kswin.restore(state);
    default:
      throw new LearnerError(
        'BAD_CONFIG',
        `invalid drift detector state: unknown kind '${String((state as { kind?: unknown })?.kind)}'`,
      );
  }
}
