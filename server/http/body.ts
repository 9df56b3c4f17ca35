/**
 * Reading request bodies defensively: a size limit enforced while reading (a lying or absent
 * Content-Length cannot get past it), the media type checked, JSON parsed, and each failure a
 * clear 4xx rather than a crash.
 */
import { ApiError } from './errors.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true });

export async function readBytes(request: Request, limit: number): Promise<Uint8Array> {
  const tooLarge = () =>
    new ApiError(413, 'BODY_TOO_LARGE', `the body is larger than ${limit} bytes`);
  const declared = request.headers.get('content-length');
  if (declared !== null && /^\d+$/.test(declared)) {
    if (Number(declared) > limit) throw tooLarge();
    // Node's HTTP parser delivers exactly the declared length, so the body can be taken whole:
    // @hono/node-server then reads it straight off the socket instead of through a web
    // stream (which cost as much as parsing a metrics batch). Only a Request built in-process
    // can carry more than its header says, and it is checked after the fact.
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await request.arrayBuffer());
    } catch {
      throw new ApiError(400, 'BAD_REQUEST', 'the body could not be read');
    }
    if (bytes.length > limit) throw tooLarge();
    return bytes;
  }
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > limit) {
        await reader.cancel().catch(() => {});
        throw tooLarge();
      }
      chunks.push(value);
    }
  } catch (error) {
    if (error instanceof ApiError) throw error;
    throw new ApiError(400, 'BAD_REQUEST', 'the body could not be read');
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/**
 * The body as it arrives, for consumers that store it as they go (model uploads): the same
 * declared-length check as readBytes up front, a read failure as a 400. The consumer counts
 * the bytes against its own limit.
 */
export async function* requestBody(
  request: Request,
  limit: number,
): AsyncGenerator<Uint8Array, void, undefined> {
  const declared = request.headers.get('content-length');
  if (declared !== null && /^\d+$/.test(declared) && Number(declared) > limit)
    throw new ApiError(413, 'BODY_TOO_LARGE', `the body is larger than ${limit} bytes`);
  if (!request.body) return;
  const reader = request.body.getReader();
  let finished = false;
  try {
    for (;;) {
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await reader.read();
      } catch {
        throw new ApiError(400, 'BAD_REQUEST', 'the body could not be read');
      }
      if (result.done) {
        finished = true;
        return;
      }
      yield result.value;
    }
  } finally {
    if (!finished) await reader.cancel().catch(() => {});
  }
}

function mediaType(request: Request): string {
  return (request.headers.get('content-type') ?? '').split(';')[0].trim().toLowerCase();
}

export function requireMediaType(request: Request, expected: string): void {
  const actual = mediaType(request);
  if (actual !== expected)
    throw new ApiError(
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      `Content-Type must be ${expected}${actual ? `, not ${actual}` : ''}`,
    );
}

/** The body as parsed JSON (not yet validated). */
export async function readJson(request: Request, limit: number): Promise<unknown> {
  requireMediaType(request, 'application/json');
  const bytes = await readBytes(request, limit);
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new ApiError(400, 'BAD_JSON', 'the body is not UTF-8');
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(400, 'BAD_JSON', 'the body is not valid JSON');
  }
}

/**
 * A JSON body that may be left out altogether (promote, rollback and closing a round need no
 * fields): no content type, no chunking and no length read as `{}`.
 */
export async function optionalJson(request: Request, limit: number): Promise<unknown> {
  const length = request.headers.get('content-length');
  const chunked = request.headers.get('transfer-encoding');
  if (!request.headers.get('content-type') && !chunked && (length === null || length === '0'))
    return {};
  return readJson(request, limit);
}
