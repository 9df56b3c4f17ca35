/**
 * Bearer credentials. Device routes want a device token (401 INVALID_TOKEN when unknown, so
 * the device knows to register again); admin routes want the admin token (403 FORBIDDEN for
 * any other token). No credentials at all is 401 UNAUTHORIZED on both.
 */
import { secretMatches } from '../tokens.ts';
import { ApiError } from './errors.ts';

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

export async function requireDevice(
  request: Request,
  authenticate: (token: string) => Promise<string | null>,
): Promise<string> {
  const installId = await authenticate(bearerToken(request));
  if (installId === null)
    throw new ApiError(401, 'INVALID_TOKEN', 'unknown device token; register again', {
      headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
    });
  return installId;
}
