/**
 * A trust root that is not the app key. The app key ships inside every app, so anyone can
 * register installs with it; an operator who runs the autopilot on the open internet wants
 * installs bound to their own users instead. `startServer({ register: { verify } })` makes
 * registration also need a credential (sent as `Authorization: Bearer <credential>` on
 * `POST /v1/register`) that `verify` accepts, and records the subject it names with the
 * install; registrations per subject are limited (`perSubject`), so one account cannot
 * farm installs.
 *
 * `jwtVerifier` is a ready verifier: a JWT signed by the app's own backend (it knows who is
 * logged in), checked against that backend's JWKS with the `jose` library (signature,
 * algorithm allow-list, issuer, audience, expiry). The backend issues a short-lived token to
 * its logged-in user; the app hands it to the learner's registration.
 */
import { createRemoteJWKSet, type JWTVerifyGetKey, errors as joseErrors, jwtVerify } from 'jose';
import { ApiError } from './http/errors.ts';
import type { RateLimitOptions } from './http/rate_limit.ts';

export interface RegisterCredential {
  /** The bearer credential the device sent, if any. */
  credential: string | undefined;
  /** The client's address (after trustProxy). */
  address: string;
}

/** Who the credential names (stored with the install), or why it is refused (403). */
export type RegisterVerdict = { subject: string } | { refused: string };

export type RegisterVerifier = (input: RegisterCredential) => Promise<RegisterVerdict>;

export interface RegisterOptions {
  /** Must accept a registration's credential; without it only the app key is checked. */
  verify?: RegisterVerifier;
  /** Registrations allowed per verified subject. Default 10 per day. */
  perSubject?: RateLimitOptions;
}

export interface JwtVerifierOptions {
  /** The backend's JSON Web Key Set, e.g. `https://auth.example.com/.well-known/jwks.json`. */
  jwksUrl: string | URL;
  /** The `iss` the backend signs with. */
  issuer: string;
  /** The `aud` the backend issues for this app's registrations. */
  audience: string;
  /** Accepted algorithms. Default the asymmetric ones: ES256, ES384, EdDSA, RS256, PS256. */
  algorithms?: string[];
  /** Clock skew allowed on `exp`/`nbf`, seconds. Default 30. */
  clockToleranceSeconds?: number;
  /**
   * Longest lifetime accepted (`exp - iat`), and oldest `iat`, seconds: registration tokens
   * are short-lived. Default 600.
   */
  maxTokenAgeSeconds?: number;
  /** How long a fetch of the JWKS may take, ms. Default 5,000. */
  timeoutMs?: number;
  /**
   * After a fetch, how long a token naming an unknown key id waits for the next one, ms
   * (so random key ids cannot make the server hammer the backend). Default 30,000.
   */
  cooldownMs?: number;
}

/** The key set could not be had (network, HTTP status, not a JWKS): the backend's fault. */
class KeySetUnavailable extends Error {
  override readonly name = 'KeySetUnavailable';
}

const DEFAULT_ALGORITHMS = ['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256'];

/**
 * A verifier of JWTs from the app's backend. Keys are fetched from `jwksUrl` on demand and
 * cached (jose refetches when a token names an unknown key id, so the backend can rotate). A
 * JWKS that cannot be fetched is 503 (retry later), not a refusal.
 */
export function jwtVerifier(options: JwtVerifierOptions): RegisterVerifier {
  const remote: JWTVerifyGetKey = createRemoteJWKSet(new URL(options.jwksUrl), {
    timeoutDuration: options.timeoutMs ?? 5_000,
    cooldownDuration: options.cooldownMs ?? 30_000,
  });
  // Tell "this token names no key of the backend" (a refusal) from "the key set is not to
  // be had" (503): only the first is the token's fault.
  const keys: JWTVerifyGetKey = async (header, token) => {
    try {
      return await remote(header, token);
    } catch (error) {
      if (
        error instanceof joseErrors.JWKSNoMatchingKey ||
        error instanceof joseErrors.JWKSMultipleMatchingKeys
      )
        throw error;
      throw new KeySetUnavailable(error instanceof Error ? error.message : String(error));
    }
  };
  const maxAge = options.maxTokenAgeSeconds ?? 600;
  const algorithms = options.algorithms ?? DEFAULT_ALGORITHMS;
  return async ({ credential }) => {
    if (!credential) return { refused: 'no credential: send Authorization: Bearer <JWT>' };
    try {
      const { payload } = await jwtVerify(credential, keys, {
        issuer: options.issuer,
        audience: options.audience,
        algorithms,
        clockTolerance: options.clockToleranceSeconds ?? 30,
        maxTokenAge: maxAge,
        requiredClaims: ['sub', 'iat', 'exp'],
      });
      if ((payload.exp as number) - (payload.iat as number) > maxAge)
        return { refused: `the token lives longer than ${maxAge} s; issue short-lived ones` };
      if (typeof payload.sub !== 'string' || payload.sub === '' || payload.sub.length > 200)
        return { refused: 'the token has no usable sub claim' };
      return { subject: payload.sub };
    } catch (error) {
      if (error instanceof KeySetUnavailable || !(error instanceof joseErrors.JOSEError))
        throw new ApiError(503, 'UNAVAILABLE', 'the key set for registration is unreachable', {
          headers: { 'retry-after': '5' },
        });
      // jose's messages say what failed (expired, signature, claim) without secrets.
      return { refused: `the token was refused: ${error.message}` };
    }
  };
}
