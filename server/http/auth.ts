/**
 * Bearer credentials. Device routes want a device token (401 INVALID_TOKEN when unknown, so
 * the device knows to register again); admin routes want the admin token (403 FORBIDDEN for
 * any other token). No credentials at all is 401 UNAUTHORIZED on both.
 */
import { secretMatches } from '../tokens.ts';
import { ApiError } from './errors.ts';
import { enforce, type RateLimiter } from './rate_limit.ts';

/** The scheme is case-insensitive (RFC 9110 §11.1); the token is not. */
const BEARER = /^Bearer +([\x21-\x7e]{1,512})$/i;

export function bearerToken(request: Request): string {
  const header = request.headers.get('authorization');
  const match = header === null ? null : BEARER.exec(header.trim());
  if (!match)
    throw new ApiError(401, 'UNAUTHORIZED', 'send Authorization: Bearer <token>', {
      headers: { 'www-authenticate': 'Bearer' },
    });
  return match[1];
}

export function requireAdmin(request: Request, adminTokenHash: string): void {
  const token = bearerToken(request);
  if (!secretMatches(token, adminTokenHash))
    throw new ApiError(403, 'FORBIDDEN', 'this route needs the admin token');
}

/**
 * The install a device token names. Failed attempts are counted per client address prefix
 * (`failures`); a prefix over its limit is refused from memory, before the tokens table is
 * read, so guessing tokens costs the server no database work once the limit is reached.
 */
export async function requireDevice(
  request: Request,
  authenticate: (token: string) => Promise<string | null>,
  failures: { limiter: RateLimiter; key: string },
): Promise<string> {
  const token = bearerToken(request);
  enforce(failures.limiter.blocked(failures.key));
  const installId = await authenticate(token);
  if (installId === null) {
    enforce(await failures.limiter.take(failures.key));
    throw new ApiError(401, 'INVALID_TOKEN', 'unknown device token; register again', {
      headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
    });
  }
  return installId;
}
