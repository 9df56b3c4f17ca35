// The manifest client in real Chromium against a real sync server, with the rollout lab's
// tampering proxy between them: what a device accepts, what it refuses and why, and that a
// refused manifest changes nothing it holds.
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { makeTestBackbone } from '../../../models/testing.ts';
import type { Manifest } from '../../../src/protocol/index.ts';
import type {
  CheckOutcome,
  ManifestClientOptions,
  ManifestState,
  ManifestStateStore,
} from '../../../src/rollout/manifest/client_options.ts';
import { ManifestClient } from '../../../src/rollout/manifest/manifest_client.ts';
import { importManifestKey } from '../../../src/rollout/manifest/signature.ts';
import { hasRolloutLab, type LabServer, newLabServer, type PublishOptions } from './rollout_lab.ts';

/** A state store in real IndexedDB, so a second client reads what the first one saved. */
function idbState(name: string): ManifestStateStore {
  const open = () =>
    new Promise<IDBDatabase>((resolve, reject) => {
      const request = indexedDB.open(name, 1);
      request.onupgradeneeded = () => request.result.createObjectStore('state');
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  const run = async <T>(mode: IDBTransactionMode, work: (s: IDBObjectStore) => IDBRequest<T>) => {
    const db = await open();
    try {
      return await new Promise<T>((resolve, reject) => {
        const tx = db.transaction('state', mode);
        const request = work(tx.objectStore('state'));
        tx.oncomplete = () => resolve(request.result);
        tx.onerror = () => reject(tx.error);
      });
    } finally {
      db.close();
    }
  };
  return {
    load: () => run<ManifestState | undefined>('readonly', (s) => s.get('manifest')),
    save: async (state) => {
      await run('readwrite', (s) => s.put(state, 'manifest'));
    },
  };
}

/** A client that records what it was handed and refused; polls only if a test asks it to. */
function recordingClient(lab: LabServer, extra: Partial<ManifestClientOptions> = {}) {
  const accepted: Manifest[] = [];
  const refused: string[] = [];
  const waiters: { done: (m: Manifest) => boolean; resolve: (m: Manifest) => void }[] = [];
  const make = async () =>
    new ManifestClient({
      url: lab.url,
      verifier: await importManifestKey(lab.publicKey.raw),
      onManifest: (manifest) => {
        accepted.push(manifest);
        for (const waiter of [...waiters]) {
          if (waiter.done(manifest)) {
            waiters.splice(waiters.indexOf(waiter), 1);
            waiter.resolve(manifest);
          }
        }
      },
      onRefused: (reason) => refused.push(reason),
      events: false,
      pollIntervalMs: 3_600_000,
      fallbackPollIntervalMs: 3_600_000,
      ...extra,
    });
  return {
    accepted,
    refused,
    make,
    /** Resolves with the first manifest handed over from now on that satisfies `done`. */
    next(done: (m: Manifest) => boolean): Promise<Manifest> {
      return new Promise((resolve) => waiters.push({ done, resolve }));
    },
  };
}

const model = makeTestBackbone({ seed: 21 });
const modelB = makeTestBackbone({ seed: 22 });

// One server for the file (starting one costs seconds of a shared CPU): each test publishes
// its own versions, at small weights, and rolls them back after itself.
describe.runIf(hasRolloutLab)('manifest client (real server, tampering proxy)', () => {
  let lab: LabServer;
  const clients: ManifestClient[] = [];
  const published: string[] = [];
  const track = (client: ManifestClient) => {
    clients.push(client);
    return client;
  };
  const publish = async (options: PublishOptions) => {
    const version = await lab.publish(options);
    published.push(version.id);
    return version;
  };

  beforeAll(async () => {
    lab = await newLabServer();
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) client.stop();
    await lab.tamper({ manifest: { kind: 'pass' }, model: { kind: 'pass' } });
    for (const id of published.splice(0)) await lab.rollback(id);
  });
  afterAll(async () => {
    await lab?.close();
  });

  test('accepts the signed manifest on start; the next check sends If-None-Match and gets 304', async () => {
    const v1 = await publish({ bytes: model.bytes, weight: 0.1 });
    const rec = recordingClient(lab);
    const client = track(await rec.make());
    const first = await client.start();
    expect(first.kind).toBe('accepted');
    expect(rec.accepted).toHaveLength(1);
    expect(rec.accepted[0].versions.map((v) => [v.id, v.status, v.weight])).toEqual([
      [v1.id, 'staging', 0.1],
    ]);
    const etag = client.state?.etag;
    expect(etag).toMatch(/^"[0-9a-f]{64}"$/);

    const since = (await lab.log()).length;
    expect(await client.check()).toEqual({ kind: 'not_modified' });
    const requests = (await lab.log(since)).filter(
      (r) => r.path === '/v1/manifest' && r.method === 'GET',
    );
    expect(requests.map((r) => [r.ifNoneMatch, r.status])).toEqual([[etag, 304]]);
    expect(rec.accepted).toHaveLength(1);
    expect(client.stats()).toMatchObject({ checks: 2, accepted: 1, notModified: 1, refused: {} });
  });

  test.each(['webcrypto', 'noble'] as const)(
    'the %s verifier accepts the server and refuses a corrupted signature',
    async (backend) => {
      const verifier = await importManifestKey(lab.publicKey.raw, { backend });
      expect(verifier.backend).toBe(backend);
      const make = () =>
        track(new ManifestClient({ url: lab.url, verifier, events: false, onManifest: () => {} }));
      expect((await make().start()).kind).toBe('accepted');
      await lab.tamper({ manifest: { kind: 'corrupt-signature' } });
      expect(await make().start()).toEqual({ kind: 'refused', reason: 'bad_signature' });
    },
  );

  test('a version published while the app is open arrives by push, not by polling', async () => {
    const rec = recordingClient(lab, { events: true });
    const client = track(await rec.make());
    expect((await client.start()).kind).toBe('accepted');
    const started = performance.now();
    const arrived = rec.next((m) => m.versions.length === 1);
    const v1 = await publish({ bytes: model.bytes, weight: 0.25 });
    const manifest = await arrived;
    const elapsed = performance.now() - started;
    expect(manifest.versions[0]).toMatchObject({ id: v1.id, status: 'staging', weight: 0.25 });
    // Polls are an hour apart here: only the event stream can have delivered it this soon.
    expect(elapsed).toBeLessThan(10_000);
    const stats = client.stats();
    expect(stats.pushes).toBeGreaterThanOrEqual(1);
    expect(rec.accepted).toHaveLength(2);

    // A ramp changes the manifest too (same rollout, new revision).
    const ramped = rec.next((m) => m.versions[0]?.weight === 0.5);
    await lab.ramp(v1.id, 0.5);
    expect((await ramped).rollout).toBe(manifest.rollout);
    console.info(`[manifest] publish → onManifest by push: ${elapsed.toFixed(0)} ms`);
  });

  test('once the event stream is open, the next poll waits the connected interval, not the fallback', async () => {
    // The start's first check runs before the stream opens, so it schedules the fallback poll;
    // an idle device that kept it would wake every minute for nothing (bench idle).
    const rec = recordingClient(lab, {
      events: true,
      pollIntervalMs: 3_600_000,
      fallbackPollIntervalMs: 60_000,
    });
    const client = track(await rec.make());
    const before = Date.now();
    await client.start();
    await expect.poll(() => client.stats().eventsConnected, { timeout: 30_000 }).toBe(true);
    const { nextCheckAt } = client.stats();
    // The connected interval with its ±20 % jitter: at least 48 minutes away.
    expect(nextCheckAt).not.toBeNull();
    expect((nextCheckAt ?? 0) - before).toBeGreaterThan(0.8 * 3_600_000 - 60_000);
  });

  test('without events it polls, with jitter, and finds a new version', async () => {
    const rec = recordingClient(lab, { events: false, fallbackPollIntervalMs: 150 });
    const client = track(await rec.make());
    await client.start();
    const arrived = rec.next((m) => m.versions.length === 1);
    await publish({ bytes: model.bytes, weight: 0.1 });
    await arrived;
    expect(client.stats().pushes).toBe(0);
  });

  test.each([
    ['corrupt-signature', 'bad_signature'],
    ['corrupt-body', 'bad_signature'],
    ['strip-signature', 'missing_signature'],
  ] as const)(
    '%s: refused as %s; the device keeps its manifest and recovers',
    async (kind, code) => {
      const rec = recordingClient(lab);
      const client = track(await rec.make());
      await client.start();
      const held = client.state;
      await publish({ bytes: model.bytes, weight: 0.1 });

      await lab.tamper({ manifest: { kind } });
      expect(await client.check()).toEqual({ kind: 'refused', reason: code });
      expect(rec.refused).toEqual([code]);
      expect(rec.accepted).toHaveLength(1);
      expect(client.state).toEqual(held);
      expect(client.stats().refused).toEqual({ [code]: 1 });

      await lab.tamper({ manifest: { kind: 'pass' } });
      expect((await client.check()).kind).toBe('accepted');
      expect(rec.accepted).toHaveLength(2);
    },
  );

  test('an older signed manifest replayed is refused: the revision never goes back', async () => {
    const rec = recordingClient(lab);
    const client = track(await rec.make());
    await client.start();
    const old = client.state!.revision;
    await publish({ bytes: model.bytes, weight: 0.1 });
    expect((await client.check()).kind).toBe('accepted');
    const current = client.state!;
    expect(current.revision).toBeGreaterThan(old);
    expect(await lab.captured()).toContain(old);

    await lab.tamper({ manifest: { kind: 'replay', revision: old } });
    const outcome = await client.check();
    expect(outcome).toEqual({
      kind: 'refused',
      reason: `replayed_revision: ${old} < ${current.revision}`,
    });
    expect(client.state).toEqual(current);
    expect(rec.accepted.map((m) => m.revision)).toEqual([old, current.revision]);
  });

  test('signed but malformed manifests are refused as malformed', async () => {
    const rec = recordingClient(lab);
    const client = track(await rec.make());
    await client.start();
    const base = rec.accepted[0];
    const version = {
      id: 'v9',
      semver: '9.0.0',
      status: 'staging',
      weight: 0.2,
      model: { sha256: 'a'.repeat(64), url: `/v1/models/${'a'.repeat(64)}`, bytes: 100 },
      featureSpec: model.spec,
      head: null,
      createdAt: new Date().toISOString(),
    };
    const manifest = (patch: Record<string, unknown>, versionPatch?: Record<string, unknown>) =>
      JSON.stringify({
        ...base,
        revision: base.revision + 5,
        versions: [{ ...version, ...versionPatch }],
        ...patch,
      });
    const bodies: [string, string][] = [
      ['not JSON', '{"protocol":1,'],
      ['an array', '[]'],
      ['another protocol', manifest({ protocol: 2 })],
      ['a string revision', manifest({ revision: '99' })],
      ['a weight above 1', manifest({}, { weight: 1.5 })],
      ['a negative weight', manifest({}, { weight: -0.1 })],
      [
        'a sha256 that is not hex',
        manifest({}, { model: { ...version.model, sha256: 'g'.repeat(64) } }),
      ],
      ['no model size', manifest({}, { model: { ...version.model, bytes: 0 } })],
      ['a feature spec that is no object', manifest({}, { featureSpec: [1, 2] })],
      ['an unknown status', manifest({}, { status: 'draft' })],
      [
        'staged weights summing above 1',
        manifest({ versions: [version, { ...version, id: 'v10', weight: 0.9 }] }),
      ],
      [
        'two production versions',
        manifest({
          versions: [
            { ...version, status: 'production' },
            { ...version, id: 'v10', status: 'production' },
          ],
        }),
      ],
      ['no versions', manifest({ versions: undefined })],
    ];
    for (const [what, body] of bodies) {
      await lab.tamper({ manifest: { kind: 'signed-body', body } });
      const outcome = await client.check();
      expect(outcome.kind, what).toBe('refused');
      expect((outcome as Extract<CheckOutcome, { kind: 'refused' }>).reason, what).toMatch(
        /^malformed: /,
      );
    }
    expect(client.stats().refused).toEqual({ malformed: bodies.length });
    expect(rec.accepted).toHaveLength(1);

    // The same path with a well-formed body is accepted: the refusals were about the shape.
    await lab.tamper({ manifest: { kind: 'signed-body', body: manifest({}) } });
    expect(await client.check()).toEqual({ kind: 'accepted', revision: base.revision + 5 });
  });

  test('an error status and an unreachable server are refused as http_<status> and network', async () => {
    const rec = recordingClient(lab);
    const client = track(await rec.make());
    await client.start();
    await lab.tamper({ manifest: { kind: 'status', status: 503 } });
    expect(await client.check()).toEqual({ kind: 'refused', reason: 'http_503' });

    const offline = new ManifestClient({
      url: 'http://127.0.0.1:9',
      verifier: await importManifestKey(lab.publicKey.raw),
      onManifest: () => {
        throw new Error('nothing should arrive');
      },
      events: false,
    });
    track(offline);
    const outcome = await offline.start();
    expect(outcome.kind).toBe('refused');
    expect((outcome as Extract<CheckOutcome, { kind: 'refused' }>).reason).toMatch(/^network: /);
  });

  test('bad options are a BAD_CONFIG at construction', async () => {
    const verifier = await importManifestKey(lab.publicKey.raw);
    const base = { url: lab.url, verifier, onManifest: () => {} };
    for (const patch of [
      { url: 'not a url' },
      { url: 'ftp://127.0.0.1/' },
      { pollIntervalMs: 0 },
      { fallbackPollIntervalMs: Number.NaN },
      { jitter: 1 },
    ]) {
      expect(() => new ManifestClient({ ...base, ...patch }), JSON.stringify(patch)).toThrow(
        expect.objectContaining({ code: 'BAD_CONFIG' }),
      );
    }
  });

  test('revision and ETag survive a new client instance (IndexedDB)', async () => {
    const state = idbState(`manifest-state-${crypto.randomUUID()}`);
    const first = recordingClient(lab, { state });
    const a = track(await first.make());
    await a.start();
    await publish({ bytes: model.bytes, weight: 0.1 });
    await a.check();
    const saved = a.state!;
    a.stop();

    const second = recordingClient(lab, { state });
    const b = track(await second.make());
    const since = (await lab.log()).length;
    expect(await b.start()).toEqual({ kind: 'not_modified' });
    expect(b.state).toEqual(saved);
    const [request] = (await lab.log(since)).filter(
      (r) => r.path === '/v1/manifest' && r.method === 'GET',
    );
    expect(request).toMatchObject({ ifNoneMatch: saved.etag, status: 304 });
    expect(second.accepted).toHaveLength(0);

    // The older manifest the first client accepted is a replay to the second one.
    await lab.tamper({ manifest: { kind: 'replay' } });
    const outcome = await b.check();
    expect(outcome.kind).toBe('refused');
    expect((outcome as Extract<CheckOutcome, { kind: 'refused' }>).reason).toMatch(
      /^replayed_revision: /,
    );
  });

  test('redeliverOnStart: a new instance hands over the held revision once, then uses ETags', async () => {
    const state = idbState(`manifest-state-${crypto.randomUUID()}`);
    const first = recordingClient(lab, { state });
    const a = track(await first.make());
    await a.start();
    a.stop();
    const held = a.state!;

    const second = recordingClient(lab, { state, redeliverOnStart: true });
    const b = track(await second.make());
    expect(await b.start()).toEqual({ kind: 'accepted', revision: held.revision });
    expect(second.accepted.map((m) => m.revision)).toEqual([held.revision]);
    expect(await b.check()).toEqual({ kind: 'not_modified' });
    // An older manifest is still a replay, first check or not.
    await lab.tamper({ manifest: { kind: 'replay' } });
    const third = recordingClient(lab, { state, redeliverOnStart: true });
    const c = track(await third.make());
    expect((await c.start()).kind).toBe('refused');
    expect(third.accepted).toEqual([]);
  });

  test('callbacks never overlap; checks asked for during one coalesce into one', async () => {
    let release: () => void = () => {};
    let inFlight = 0;
    let maxInFlight = 0;
    const revisions: number[] = [];
    let entered: () => void = () => {};
    const client = track(
      new ManifestClient({
        url: lab.url,
        verifier: await importManifestKey(lab.publicKey.raw),
        events: false,
        pollIntervalMs: 3_600_000,
        fallbackPollIntervalMs: 3_600_000,
        onManifest: async (manifest) => {
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          revisions.push(manifest.revision);
          entered();
          await new Promise<void>((resolve) => {
            release = resolve;
          });
          inFlight--;
        },
      }),
    );
    const enteredOnce = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const starting = client.start();
    await enteredOnce;
    // While the first callback runs: two changes and a burst of checks.
    const v1 = await publish({ bytes: model.bytes, weight: 0.1 });
    await publish({ bytes: modelB.bytes, weight: 0.2 });
    const burst = [client.check(), client.check(), client.check()];
    const enteredTwice = new Promise<void>((resolve) => {
      entered = resolve;
    });
    release();
    await starting;
    await enteredTwice;
    release();
    const outcomes = await Promise.all(burst);
    // One check for the whole burst, which saw the latest state.
    expect(new Set(outcomes.map((o) => JSON.stringify(o))).size).toBe(1);
    expect(outcomes[0].kind).toBe('accepted');
    expect(maxInFlight).toBe(1);
    expect(revisions).toHaveLength(2);
    expect(client.stats().checks).toBe(2);
    expect(v1.id).toBeTruthy();
  });
});
