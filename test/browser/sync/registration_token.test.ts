// The learner hands the app backend's credential to registration (`sync: { registrationToken
// }`), in real Chromium against the real sync server with `register: { verify: jwtVerifier }`
// and a real JWKS on 127.0.0.1 (the rollout lab plays the app's backend, signing ES256 JWTs
// with jose). No token, a token the app cannot get, and an expired token are each refused with
// their code (`stats().sync.lastError`); the learner keeps serving its bundled model, sends no
// second registration before `backoff.maxMs` however often it checks the manifest, and once the
// app has a valid token it registers (the install records the token's subject) and follows
// the server. The token goes on `POST /v1/register` only, once.
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import type { Learner } from '../../../src/client/index.ts';
import { createLearner } from '../../../src/client/index.ts';
import { deleteStore } from '../../../src/store/index.ts';
import type { LabServer } from './rollout_lab.ts';
import { hasRolloutLab, newLabServer } from './rollout_lab.ts';
import { passingBackbone, world } from './rollout_models.ts';

const weak = passingBackbone(2);
const name = `registration-token-${crypto.randomUUID()}`;
// Long enough that a burst of checks falls inside it; short enough to wait out.
const BACKOFF_MAX_MS = 1_500;
let server: LabServer;
let learner: Learner | undefined;

beforeAll(async () => {
  if (!hasRolloutLab) return;
  server = await newLabServer({ registration: 'jwt' });
  const v1 = await server.publish({ bytes: weak, weight: 0, semver: '1.0.0' });
  await server.promote(v1.id);
});

afterAll(async () => {
  await learner?.close();
  await deleteStore(name);
  await server?.close();
});

describe.runIf(hasRolloutLab)('registration with the app backend’s JWT', () => {
  test('missing, unavailable and expired tokens are refused without a retry loop; a valid one registers', async () => {
    // What the app's backend hands out at each phase; every call is counted.
    let provide: () => Promise<string | undefined> = async () => undefined;
    let calls = 0;
    learner = await createLearner({
      model: { bytes: weak },
      store: { name },
      sync: {
        url: server.url,
        appKey: server.appKey,
        backoff: { baseMs: 100, maxMs: BACKOFF_MAX_MS },
        registrationToken: () => {
          calls++;
          return provide();
        },
      },
      rollout: { publicKey: server.publicKey.raw, live: false },
    });
    const l = learner;
    const bundled = (await l.stats()).versionId;
    const registrations = async () =>
      (await server.log()).filter((r) => r.method === 'POST' && r.path === '/v1/register');
    const lastError = async () => (await l.stats()).sync?.lastError;

    /** Checks the manifest until `done` holds (each check may try to register). */
    const checkUntil = (done: () => Promise<boolean>) =>
      vi.waitFor(
        async () => {
          await l.checkForUpdates();
          expect(await done()).toBe(true);
        },
        { timeout: 20_000, interval: 100 },
      );

    /** A burst of checks inside the backoff: no registration request, no provider call. */
    const burst = async () => {
      const [before, callsBefore] = [(await registrations()).length, calls];
      for (let i = 0; i < 5; i++) await l.checkForUpdates();
      expect((await registrations()).length).toBe(before);
      expect(calls).toBe(callsBefore);
    };

    // No token: registered without one, refused by the server (401), and nothing retried soon.
    await checkUntil(async () => (await registrations()).length === 1);
    expect((await registrations())[0].status).toBe(401);
    expect(await lastError()).toMatchObject({
      kind: 'register',
      status: 401,
      code: 'UNAUTHORIZED',
      message: expect.stringMatching(/^registration needs a credential/),
    });
    expect(calls).toBe(1);
    await burst();
    const answer = await l.predict(world(1, 1)[0].example);
    expect(answer.versionId).toBe(bundled);
    expect((await l.stats()).sync?.registered).toBe(false);

    // The app cannot get a token (nobody logged in): no request at all, the app's code.
    provide = async () => {
      throw new Error('nobody is logged in');
    };
    await checkUntil(async () => calls === 2);
    expect(await lastError()).toMatchObject({
      kind: 'register',
      code: 'NO_CREDENTIAL',
      message: expect.stringContaining('nobody is logged in'),
    });
    expect(await registrations()).toHaveLength(1);
    await burst();

    // An expired token: refused by the server's verifier (403).
    provide = () => server.token('user-42', -60);
    await checkUntil(async () => (await registrations()).length === 2);
    expect((await registrations())[1].status).toBe(403);
    expect(await lastError()).toMatchObject({
      kind: 'register',
      status: 403,
      code: 'FORBIDDEN',
      message: expect.stringMatching(/^the token was refused: "exp" claim timestamp check failed/),
    });
    expect(calls).toBe(3);
    await burst();
    expect((await l.stats()).versionId).toBe(bundled);
    expect(await server.installs()).toEqual([]);

    // A valid token: registered as its subject, and the learner follows the server.
    provide = () => server.token('user-42');
    await checkUntil(async () => (await l.stats()).versionId === 'v1');
    const registered = await registrations();
    expect(registered.map((r) => r.status)).toEqual([401, 403, 201]);
    const stats = await l.stats();
    expect(stats.sync?.registered).toBe(true);
    expect(await server.installs()).toEqual([{ id: stats.sync?.installId, subject: 'user-42' }]);
    expect(calls).toBe(4);

    // Registered once: learning and sending metrics never ask for a token again.
    for (const [i, { example, label }] of world(5, 20).entries())
      await l.observe(example, label, { id: `o${i}` });
    await l.flush();
    await vi.waitFor(async () => expect((await server.storedWindows()).length).toBeGreaterThan(0));
    await l.checkForUpdates();
    expect(calls).toBe(4);
    expect(await registrations()).toHaveLength(3);
  });
});
