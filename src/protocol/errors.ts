/** The sync protocol's error body and its stable codes (see index.ts). */

import type { FederatedErrorCode } from './federated.ts';

// ─── errors ─────────────────────────────────────────────────────────────────────────────

/**
 * The base of every typed error in localfit (the learner's, the store's, the federated code's, the server's); it lives with the wire's codes because the server's errors, which become ErrorBody, extend it too:
 * a stable `code` to branch on and a message that says how to fix it. Subclasses name their
 * codes and their `name`; nothing else.
 */
export class CodedError<Code extends string = string> extends Error {
  readonly code: Code;
  constructor(code: Code, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** Every non-2xx reply (except 304) has this body. */
export interface ErrorBody {
  error: {
    code: SyncErrorCode;
    /** For humans; may change between releases. Branch on `code`. */
    message: string;
    /** For INVALID_BODY: where in the body the first problem is, e.g. `windows[3].count`. */
    path?: string;
  };
}

/**
 * Stable error codes. A device retries only RATE_LIMITED (after `Retry-After`), UNAVAILABLE
 * and INTERNAL (with backoff); it re-registers on INVALID_TOKEN; anything else is final for
 * that request (record why and drop it).
 */
export type SyncErrorCode =
  /** 400: the body is not JSON. */
  | 'BAD_JSON'
  /** 400: JSON of the wrong shape; `path` says where. */
  | 'INVALID_BODY'
  /** 400: a malformed path parameter or header (e.g. not a sha256). */
  | 'BAD_REQUEST'
  /** 401: no credentials, or not a Bearer token. */
  | 'UNAUTHORIZED'
  /** 401: the device token is unknown; register again. */
  | 'INVALID_TOKEN'
  /** 401: the app key is wrong. */
  | 'INVALID_APP_KEY'
  /** 403: valid-looking credentials that do not allow this route (e.g. not the admin token). */
  | 'FORBIDDEN'
  /** 404 */
  | 'NOT_FOUND'
  /** 405 */
  | 'METHOD_NOT_ALLOWED'
  /** 409: a different body was sent under an idempotency key already used. */
  | 'IDEMPOTENCY_CONFLICT'
  /** 409: a windowId already stored with different contents. */
  | 'WINDOW_CONFLICT'
  /** 409: admin: a version with this semver exists. */
  | 'VERSION_EXISTS'
  /** 409: admin: the version's status does not allow this action. */
  | 'INVALID_TRANSITION'
  /** 409: admin: the staged weights would sum to more than 1. */
  | 'WEIGHTS_EXCEED_ONE'
  /**
   * 409: admin: the staged version's bucket range would overlap another staged version's range
   * or pass 1 (ranges are fixed at publish; a ramp only extends its own range).
   */
  | 'BUCKETS_OVERLAP'
  /** 413: the body is larger than the server accepts. */
  | 'BODY_TOO_LARGE'
  /** 415: not `application/json` (or `application/octet-stream` for model uploads). */
  | 'UNSUPPORTED_MEDIA_TYPE'
  /** 416: a byte range outside the model. */
  | 'RANGE_NOT_SATISFIABLE'
  /** 422: admin: the uploaded bytes do not hash to the sha256 in the path. */
  | 'SHA256_MISMATCH'
  /** 422: admin: publishing a model whose bytes were not uploaded. */
  | 'UNKNOWN_MODEL'
  /** 422: admin: a feature spec that is invalid (or missing from the model). */
  | 'INVALID_FEATURE_SPEC'
  /** 429: slow down; `Retry-After` says for how many seconds. */
  | 'RATE_LIMITED'
  /** 500: a server fault (never a reaction to the input). */
  | 'INTERNAL'
  /** 503: the server cannot reach its storage; retry later. */
  | 'UNAVAILABLE'
  /** Federated rounds (src/protocol/federated.ts): contributions and the admin's round actions. */
  | FederatedErrorCode;
