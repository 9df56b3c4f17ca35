/**
 * Failures of the persistence layer. Like `LearnerError` they carry a stable `code`, so the
 * runtime can branch on it (e.g. run in memory on SCHEMA_TOO_NEW) without parsing messages.
 */
import { CodedError } from '../errors.ts';
export type StoreErrorCode =
  /** The database was written by newer code (a higher schema version). It was left untouched. */
  | 'SCHEMA_TOO_NEW'
  /** An upgrade step failed; the database stayed at its old version, unchanged. */
  | 'UPGRADE_FAILED'
  /** Another connection (an older tab) kept the database open, so an upgrade could not run. */
  | 'BLOCKED'
  /** IndexedDB is missing or refused to open (private mode, disabled storage, broken profile). */
  | 'UNAVAILABLE'
  /** The connection was closed (by `close()`, another tab's upgrade, or the browser). */
  | 'CLOSED'
  /** A lifecycle change that the version lifecycle does not allow; nothing was changed. */
  | 'INVALID_TRANSITION'
  /** Model bytes whose sha256 differs from the one they were stored or asked for under. */
  | 'SHA_MISMATCH'
  /** A record that cannot be stored as given (wrong shape or type). Nothing was written. */
  | 'BAD_RECORD'
  /** A record with this id exists with different content. */
  | 'CONFLICT'
  /** The version, model or item named does not exist. */
  | 'NOT_FOUND'
  /** No room: the browser's quota or the store's own byte cap, even after eviction. */
  | 'QUOTA';

export class StoreError extends CodedError<StoreErrorCode> {
  override readonly name = 'StoreError';
  readonly details: Record<string, unknown>;
  constructor(
    code: StoreErrorCode,
    message: string,
    /** Machine-readable details, e.g. `{ found, supported }` for SCHEMA_TOO_NEW. */
    details: Record<string, unknown> = {},
  ) {
    super(code, message);
    this.details = details;
  }
}

export function isStoreError(value: unknown, code?: StoreErrorCode): value is StoreError {
  return (
    value instanceof Error &&
    (value as { name?: string }).name === 'StoreError' &&
    (code === undefined || (value as StoreError).code === code)
  );
}
