/**
 * Refusals with a stable code: every non-2xx answer the server gives is one of these, sent as
 * `{ error: { code, message, path? } }` (ErrorBody in src/protocol). Anything else
 * thrown while handling a request is a server fault and becomes a 500 INTERNAL (or 503
 * UNAVAILABLE when storage is unreachable), without details.
 */
import type { ErrorBody, SyncErrorCode } from '../../src/protocol/index.ts';
import { CodedError } from '../../src/protocol/index.ts';

export type ErrorStatus =
  | 400
  | 401
  | 403
  | 404
  | 405
  | 409
  | 413
  | 415
  | 416
  | 422
  | 429
  | 500
  | 503;

export class ApiError extends CodedError<SyncErrorCode> {
  override readonly name = 'ApiError';
  readonly status: ErrorStatus;
  readonly options: { path?: string; headers?: Record<string, string> };
  constructor(
    status: ErrorStatus,
    code: SyncErrorCode,
    message: string,
    options: { path?: string; headers?: Record<string, string> } = {},
  ) {
    super(code, message);
    this.status = status;
    this.options = options;
  }

  body(): ErrorBody {
    const { path } = this.options;
    return { error: { code: this.code, message: this.message, ...(path ? { path } : {}) } };
  }

  toResponse(extraHeaders: Record<string, string> = {}): Response {
    return new Response(JSON.stringify(this.body()), {
      status: this.status,
      headers: {
        'content-type': 'application/json; charset=utf-8',
        'cache-control': 'no-store',
        ...extraHeaders,
        ...this.options.headers,
      },
    });
  }
}

export const notFound = (what = 'no such route') => new ApiError(404, 'NOT_FOUND', what);
