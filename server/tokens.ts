/**
 * Bearer secrets (device tokens, the admin token): random, stored only as sha256, compared in
 * constant time. Hashing first also gives both sides of the comparison the same length, which
 * `timingSafeEqual` needs, so a wrong guess's length reveals nothing either.
 */
import * as nodeCrypto from 'node:crypto';

const { createHash, randomBytes, randomUUID, timingSafeEqual } = nodeCrypto;

// crypto.hash (Node 20.12 and later) hashes in one call, twice as fast as createHash for the
// short texts hashed for every metric window; an older Node 20 takes the long way.
const oneShot = nodeCrypto.hash as typeof nodeCrypto.hash | undefined;

export function sha256Hex(data: Uint8Array | string): string {
  return oneShot ? oneShot('sha256', data, 'hex') : createHash('sha256').update(data).digest('hex');
}

/** 32 random bytes, base64url: 256 bits, safe in headers. */
export function randomSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function newInstallId(): string {
  return randomUUID();
}

/** The stored form of a secret. */
export function hashSecret(secret: string): string {
  return sha256Hex(secret);
}

/** Does `secret` hash to `storedHash`? Constant time in the secret's content and length. */
export function secretMatches(secret: string, storedHash: string): boolean {
  const candidate = createHash('sha256').update(secret).digest();
  const stored = Buffer.from(storedHash, 'hex');
  return stored.length === candidate.length && timingSafeEqual(candidate, stored);
}

/**
 * A device token is `<installId>.<secret>`: the id finds the row (an indexed lookup that
 * reveals nothing about the secret), then the secret is checked against the stored hash.
 */
export function makeDeviceToken(installId: string, secret: string): string {
  return `${installId}.${secret}`;
}

export function splitDeviceToken(token: string): { installId: string; secret: string } | null {
  const dot = token.indexOf('.');
  if (dot <= 0 || dot === token.length - 1 || token.length > 200) return null;
  return { installId: token.slice(0, dot), secret: token.slice(dot + 1) };
}
