// Manifests that expire, in real Chromium against a real sync server signing with a short
// lifetime (2 s, so time passes without long waits): a device that a network attacker answers
// 304 forever learns it is frozen (`stale_manifest`) while it keeps what it holds; an expired
// manifest is refused, by a device holding one and by a fresh install; and the server's
// re-signed manifest thaws it. (A replayed older signature of the held revision that has not
// expired yet: test/unit/sync/manifest_check.test.ts.)
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { makeTestBackbone } from '../../../models/testing.ts';
import type { Manifest } from '../../../src/protocol/index.ts';
import {
  type ManifestClientOptions,
  memoryManifestState,
} from '../../../src/rollout/manifest/client_options.ts';
import { ManifestClient } from '../../../src/rollout/manifest/manifest_client.ts';
import { importManifestKey } from '../../../src/rollout/manifest/signature.ts';
import { hasRolloutLab, type LabServer, newLabServer } from './rollout_lab.ts';

const LIFETIME_MS = 2_000;

describe.runIf(hasRolloutLab)('manifest expiry (real server, short lifetime)', () => {
  let lab: LabServer;
  const clients: ManifestClient[] = [];

  beforeAll(async () => {
    lab = await newLabServer({ manifestLifetimeMs: LIFETIME_MS });
    await lab.publish({ bytes: makeTestBackbone({ seed: 31 }).bytes, weight: 0.1 });
    // Starting a server on a loaded machine can take longer than the default hook timeout.
  }, 60_000);
  afterAll(async () => {
    for (const client of clients) client.stop();
    await lab?.close();
  });

  async function client(state = memoryManifestState(), extra: Partial<ManifestClientOptions> = {}) {
    const accepted: Manifest[] = [];
    const refused: string[] = [];
    let stale: (reason: string) => void = () => {};
    const staleReason = new Promise<string>((resolve) => {
      stale = resolve;
    });
    const made = new ManifestClient({
      url: lab.url,
      verifier: await importManifestKey(lab.publicKey.raw),
      onManifest: (m) => {
        accepted.push(m);
      },
      onRefused: (reason) => refused.push(reason),
      onStale: (reason) => stale(reason),
      state,
      events: false,
      // Only the expiry schedules checks here.
      pollIntervalMs: 3_600_000,
      fallbackPollIntervalMs: 3_600_000,
      ...extra,
    });
    clients.push(made);
    return { made, accepted, refused, staleReason, state };
  }

  test('frozen by 304s: stale_manifest once the held manifest expires; refused when replayed; thawed by the server', async () => {
    const device = await client();
    expect((await device.made.start()).kind).toBe('accepted');
    const held = device.accepted[0];
    const lifetime = Date.parse(held.expiresAt) - Date.parse(held.issuedAt);
    expect(lifetime).toBe(LIFETIME_MS);
    // Signed with at least half its lifetime left (unit-tested exactly); here only: not expired.
    expect(Date.parse(held.expiresAt)).toBeGreaterThan(Date.now());
    expect(device.made.stats().stale).toBe(false);

    // An attacker answers every check with 304 from now on.
    const since = await lab.tamper({ manifest: { kind: 'status', status: 304 } });
    const reason = await device.staleReason;
    expect(reason).toBe(
      `stale_manifest: revision ${held.revision} expired at ${held.expiresAt}; no newer manifest could be had`,
    );
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(held.expiresAt));
    expect(device.made.stats().stale).toBe(true);
    // It checked (the check scheduled for the expiry), got 304, kept what it had.
    const log = await lab.log(since);
    expect(log.filter((r) => r.path === '/v1/manifest').map((r) => r.status)).toContain(304);
    expect(device.accepted).toHaveLength(1);
    expect(device.made.state?.revision).toBe(held.revision);

    // Replaying the held (now expired) manifest's bytes and signature: refused.
    await lab.tamper({ manifest: { kind: 'replay', revision: held.revision } });
    expect(await device.made.check()).toEqual({
      kind: 'refused',
      reason: `expired_manifest: revision ${held.revision} expired at ${held.expiresAt}`,
    });
    // So does a fresh install: it has nothing, and still takes nothing expired.
    const fresh = await client();
    expect((await fresh.made.start()).kind).toBe('refused');
    expect(fresh.refused).toEqual([
      `expired_manifest: revision ${held.revision} expired at ${held.expiresAt}`,
    ]);
    expect(fresh.accepted).toHaveLength(0);
    expect(fresh.made.state).toBeUndefined();

    // The real server re-signed the same revision: the device takes the new expiry, unfrozen.
    await lab.tamper({ manifest: { kind: 'pass' } });
    expect(await device.made.check()).toEqual({ kind: 'not_modified' });
    const thawed = device.made.state!;
    expect(thawed.revision).toBe(held.revision);
    expect(Date.parse(thawed.expiresAt!)).toBeGreaterThan(Date.now());
    expect(Date.parse(thawed.issuedAt!)).toBeGreaterThan(Date.parse(held.issuedAt));
    expect(device.made.stats().stale).toBe(false);
    expect(device.accepted).toHaveLength(1);
  });

  test('notBefore: a fresh install built at a later revision refuses the manifest below it', async () => {
    const current = (await (await client()).made.start()) as { kind: string; revision: number };
    expect(current.kind).toBe('accepted');
    const later = await client(memoryManifestState(), { notBefore: current.revision + 1 });
    expect(await later.made.start()).toEqual({
      kind: 'refused',
      reason: `below_floor: revision ${current.revision} < notBefore ${current.revision + 1}`,
    });
    expect(later.accepted).toHaveLength(0);
    expect(later.made.state).toBeUndefined();
    const built = await client(memoryManifestState(), {
      notBefore: new Date(Date.now() + 60_000).toISOString(),
    });
    expect((await built.made.start()).kind).toBe('refused');
    expect(built.refused[0]).toMatch(/^below_floor: issued .*, before notBefore /);
    const same = await client(memoryManifestState(), { notBefore: current.revision });
    expect((await same.made.start()).kind).toBe('accepted');
  });
});
