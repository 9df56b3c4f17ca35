/**
 * Every failure the learner reports to the app is a `LearnerError` with a stable `code`,
 * so apps can branch on the code and never parse messages.
 */
export type LearnerErrorCode =
  /** A feature is NaN or ±∞, a vector has the wrong length, or an input is missing. */
  | 'BAD_INPUT'
  /** A label the head does not know (multiclass), or a non-finite target. */
  | 'BAD_LABEL'
  /** Model bytes that are not ONNX, or an ONNX graph that does not match its feature spec. */
  | 'BAD_MODEL'
  /** Options passed to `createLearner` or a head that cannot work. */
  | 'BAD_CONFIG'
  /** The head's weights became non-finite; it restored its last good state. */
  | 'NON_FINITE'
  /**
   * The backbone's output is NaN or ±∞ for finite inputs: the model's fault (it overflows or
   * divides by zero there); nothing was learned or stored.
   */
  | 'MODEL_OUTPUT_NON_FINITE'
  /** IndexedDB refused a read or write the learner needed. */
  | 'STORAGE'
  /**
   * No room on the device: the browser refused a write for lack of quota (or the store hit
   * its own byte cap), even after the oldest evaluable data was evicted. Nothing of that call
   * was stored or learned; what was acknowledged before stays. Free space (or ask for
   * persistent storage) and retry the call.
   */
  | 'QUOTA'
  /** The learner was closed. */
  | 'CLOSED'
  /** A bug or an unexpected failure; the message says what. */
  | 'INTERNAL';

import { CodedError } from './protocol/errors.ts';

export { CodedError };

export class LearnerError extends CodedError<LearnerErrorCode> {
  override readonly name = 'LearnerError';
}

export function isLearnerError(value: unknown): value is LearnerError {
  return value instanceof Error && (value as { name?: string }).name === 'LearnerError';
}

/**
 * Any failure as a LearnerError, for the API's edge: a LearnerError passes through; anything
 * else (a bug, a browser refusing something) becomes `INTERNAL`, its message kept.
 */
export function asLearnerError(error: unknown): LearnerError {
  if (isLearnerError(error)) return error;
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new LearnerError(
    'INTERNAL',
    `${message} (unexpected: if it persists, report it with this message)`,
  );
}

/** An error's message, or the thrown value as text: for a message that says what failed. */
export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
