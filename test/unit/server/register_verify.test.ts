/**
 * Registration bound to the app's own users: a real server whose `register.verify` is
 * `jwtVerifier` against a JWKS served on 127.0.0.1 by a stand-in for the app's backend, with
 * real keys and real JWTs (jose). Only a valid, current token from that backend, for this
 * app, registers; the subject is stored with the install; a subject's registrations are
 * limited; a key set that cannot be fetched is 503, not a refusal.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { jwtVerifier } from '../../../server/register_verify.ts';
import { type RunningServer, startServer } from '../../../server/start.ts';
import type { ErrorBody, RegisterResponse } from '../../../src/protocol/index.ts';
import { ADMIN_TOKEN, APP_KEY, call } from './support/http.ts';

const TIMEOUT = 60_000;
const ISSUER = 'https://backend.example';
const AUDIENCE = 'localfit-register';

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;

let backend: Server;
let jwksUrl: string;
let served: { keys: JWK[] } | 'broken' = { keys: [] };
let signing: KeyPair;
let stranger: KeyPair;
let server: RunningServer;

beforeAll(async () => {
  signing = await generateKeyPair('ES256');
  stranger = await generateKeyPair('ES256');
  served = { keys: [{ ...(await exportJWK(signing.publicKey)), kid: 'k1', alg: 'ES256' }] };
  backend = createServer((req, res) => {
    if (req.url !== '/.well-known/jwks.json' || served === 'broken') {
      res.writeHead(500).end('down');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(served));
  });
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  jwksUrl = `http://127.0.0.1:${(backend.address() as AddressInfo).port}/.well-known/jwks.json`;
  server = await startServer({
    memory: true,
    port: 0,
    adminToken: ADMIN_TOKEN,
    appKey: APP_KEY,
    register: {
      // No cooldown between key-set fetches, so the rotation test need not wait 30 s.
      verify: jwtVerifier({ jwksUrl, issuer: ISSUER, audience: AUDIENCE, cooldownMs: 0 }),
      perSubject: { burst: 3, perSecond: 3 / 1_000_000 },
    },
  });
}, TIMEOUT);

afterAll(async () => {
  await server?.close();
  await new Promise((resolve) => backend?.close(resolve));
}, TIMEOUT);

/** A token as the backend would issue it, with overrides. */
async function token(
  claims: JWTPayload = {},
  options: { key?: KeyPair; kid?: string; issuedAgo?: number; lifetime?: number } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000) - (options.issuedAgo ?? 0);
  // Claims given override the usual ones (SignJWT's setters would overwrite them).
  return new SignJWT({ sub: 'user-1', iss: ISSUER, aud: AUDIENCE, ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: options.kid ?? 'k1' })
    .setIssuedAt(now)
    .setExpirationTime(now + (options.lifetime ?? 300))
    .sign((options.key ?? signing).privateKey);
}

const registerWith = (credential?: string, appKey = APP_KEY) =>
  call<RegisterResponse & ErrorBody>(server, 'POST', '/v1/register', {
    body: { appKey, client: { platform: 'verify-test' } },
    ...(credential === undefined ? {} : { headers: { authorization: `Bearer ${credential}` } }),
  });

const subjectOf = async (installId: string) =>
  (
    await server.database.query<{ subject: string | null }>(
      'select subject from installs where id = $1',
      [installId],
    )
  ).rows[0]?.subject;

const installCount = async () =>
  (await server.database.query<{ n: number }>('select count(*)::int as n from installs')).rows[0].n;

describe('register.verify with a JWT from the app backend', () => {
  test(
    'a valid token registers, and the install records its subject',
    async () => {
      const reply = await registerWith(await token({ sub: 'alice' }));
      expect(reply.status).toBe(201);
      expect(await subjectOf(reply.body.installId)).toBe('alice');
      // The device token then works as usual.
      const health = await call(server, 'GET', '/v1/health');
      expect(health.status).toBe(200);
    },
    TIMEOUT,
  );

  test(
    'no token, or a bad one, registers nothing',
    async () => {
      const before = await installCount();
      const none = await registerWith(undefined);
      expect(none.status).toBe(401);
      expect(none.body.error.code).toBe('UNAUTHORIZED');
      const bad: [string, string][] = [
        ['expired', await token({}, { issuedAgo: 400, lifetime: 300 })],
        ['too long-lived', await token({}, { lifetime: 24 * 3600 })],
        ['another audience', await token({ aud: 'some-other-app' })],
        ['another issuer', await token({ iss: 'https://evil.example' })],
        ['signed with a key the backend does not hold', await token({}, { key: stranger })],
        ['an unknown key id', await token({}, { key: stranger, kid: 'k2' })],
        [
          'alg none',
          new UnsecuredJWT({ sub: 'x' }).setIssuer(ISSUER).setAudience(AUDIENCE).encode(),
        ],
        ['not a JWT', 'abc.def.ghi'],
        ['no subject', await token({ sub: undefined })],
      ];
      for (const [what, credential] of bad) {
        const reply = await registerWith(credential);
        expect(reply.status, what).toBe(403);
        expect(reply.body.error.code, what).toBe('FORBIDDEN');
      }
      // A valid token does not replace the app key.
      expect((await registerWith(await token(), 'wrong-app-key')).status).toBe(401);
      expect(await installCount()).toBe(before);
    },
    TIMEOUT,
  );

  test(
    'one subject registers at most perSubject installs; others are unaffected',
    async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++)
        statuses.push((await registerWith(await token({ sub: 'bob' }))).status);
      expect(statuses).toEqual([201, 201, 201, 429]);
      expect((await registerWith(await token({ sub: 'carol' }))).status).toBe(201);
    },
    TIMEOUT,
  );

  test(
    'the backend rotates keys: a token with a new key id is accepted once the JWKS has it',
    async () => {
      const next = await generateKeyPair('ES256');
      if (served === 'broken') throw new Error('unexpected');
      served = {
        keys: [...served.keys, { ...(await exportJWK(next.publicKey)), kid: 'k3', alg: 'ES256' }],
      };
      const reply = await registerWith(await token({ sub: 'dave' }, { key: next, kid: 'k3' }));
      expect(reply.status).toBe(201);
    },
    TIMEOUT,
  );

  test(
    'a key set that cannot be fetched is 503 with Retry-After, not a refusal',
    async () => {
      // A fresh verifier has no cached keys, so it must fetch the (now failing) key set.
      served = 'broken';
      const isolated = await startServer({
        memory: true,
        port: 0,
        adminToken: ADMIN_TOKEN,
        appKey: APP_KEY,
        register: { verify: jwtVerifier({ jwksUrl, issuer: ISSUER, audience: AUDIENCE }) },
      });
      try {
        const reply = await call<ErrorBody>(isolated, 'POST', '/v1/register', {
          body: { appKey: APP_KEY },
          headers: { authorization: `Bearer ${await token()}` },
        });
        expect(reply.status).toBe(503);
        expect(reply.body.error.code).toBe('UNAVAILABLE');
        expect(Number(reply.headers.get('retry-after'))).toBeGreaterThan(0);
      } finally {
        await isolated.close();
      }
    },
    TIMEOUT,
  );
});
