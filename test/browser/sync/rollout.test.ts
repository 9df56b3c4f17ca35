// Staged rollout end to end: real learners (workers, onnxruntime-web, IndexedDB) in each engine
// following a real sync server on 127.0.0.1 through the rollout lab's proxy (test/support/
// rollout_lab.ts). The server publishes, ramps, promotes and rolls back; the devices find their
// arm, stage verified versions, swap without a gap and refuse whatever fails verification.
import { afterEach, describe, expect, inject, test } from 'vitest';
import type { Learner } from '../../../src/client/index.ts';
import { createLearner } from '../../../src/client/index.ts';
import type { Manifest } from '../../../src/protocol/index.ts';
import { assignArm, rolloutBucket } from '../../../src/rollout/arm.ts';
import type { DeviceOptions } from './rollout_fleet.ts';
import { nextRollout, RolloutFleet } from './rollout_fleet.ts';
import type { LabServer } from './rollout_lab.ts';
import { hasRolloutLab } from './rollout_lab.ts';
import { passingBackbone, world } from './rollout_models.ts';

const fleetOf = new RolloutFleet();
afterEach(() => fleetOf.cleanup());

const lab = (): Promise<LabServer> => fleetOf.lab();
const device = (server: LabServer, rollout: DeviceOptions['rollout'] = {}): Promise<Learner> =>
  fleetOf.device(server, { sync: { flushAtQueued: 1 }, rollout });

/** The first two columns of rows, as two lists. */
function unzip<A, B>(rows: readonly (readonly [A, B, ...unknown[]])[]): [A[], B[]] {
  return [rows.map((row) => row[0]), rows.map((row) => row[1])];
}

async function manifest(server: LabServer): Promise<Manifest> {
  return (await fetch(`${server.serverUrl}/v1/manifest`)).json();
}

/** What this learner must serve under `m`, by the arm rule computed here from its install id. */
async function expectedArm(learner: Learner, m: Manifest): Promise<string | undefined> {
  const installId = (await learner.stats()).sync?.installId;
  if (!installId) throw new Error('the learner has not registered');
  return assignArm(m, await rolloutBucket(installId, m.rollout))?.id;
}

describe.runIf(hasRolloutLab)('staged rollout', () => {
  test('a device adopts the server production with the bytes it ships, without downloading them', async () => {
    const server = await lab();
    const since = (await server.log()).length;
    const learner = await device(server);
    const stats = await learner.stats();
    expect(stats.versions.production).toBe('v1');
    expect(stats.versionId).toBe('v1');
    const downloads = (await server.log(since)).filter((entry) =>
      entry.path.startsWith('/v1/models/'),
    );
    expect(downloads).toEqual([]);
  });

  // WebKit gives one page at most 15 wasm memories that can hold threads (each reserves its
  // 4 GiB maximum up front; measured in WebKitGTK 2.50), and every learner's onnxruntime takes
  // one: there the 20 devices take turns, 10 open at a time, each reopened from its own store
  // when its turn comes again. The turns run forwards and backwards in alternate phases, so the
  // group open at the end of one phase starts the next: 40 starts of onnxruntime (2–8 s each
  // there) instead of 60. Elsewhere all 20 stay open throughout.
  test('20 learners: v2 at 10 % then 50 % — each serves its arm, and the ramp only adds devices', {
    timeout: 150_000 * inject('timeScale'),
  }, async () => {
    const server = await lab();
    const together = inject('engine') === 'webkit' ? 10 : 20;
    const stores = Array.from({ length: 20 }, () => fleetOf.database());
    const groups: number[][] = [];
    for (let first = 0; first < stores.length; first += together) {
      groups.push(stores.slice(first, first + together).map((_, j) => first + j));
    }
    const open = new Map<number, Learner>();
    let phase = 0;
    /** Runs `each` on every device (results by device), `together` open at a time. */
    async function everyDevice<T>(each: (learner: Learner) => Promise<T>): Promise<T[]> {
      const results: T[] = [];
      const turns = phase++ % 2 === 0 ? groups : [...groups].reverse();
      for (const group of turns) {
        for (const [i, learner] of open) {
          if (group.includes(i)) continue;
          await learner.close();
          open.delete(i);
        }
        await Promise.all(
          group.map(async (i) => {
            const learner =
              open.get(i) ??
              (await fleetOf.device(server, {
                sync: { flushAtQueued: 1 },
                store: { name: stores[i] },
              }));
            open.set(i, learner);
            results[i] = await each(learner);
          }),
        );
      }
      return results;
    }
    await everyDevice(async () => undefined); // registered, on v1
    await server.publish({ bytes: passingBackbone(8), weight: 0.1, semver: '2.0.0' });
    const at10 = await manifest(server);
    const [served10, expected10] = unzip(
      await everyDevice(async (learner) => {
        await learner.checkForUpdates();
        return [(await learner.stats()).versionId, await expectedArm(learner, at10)] as const;
      }),
    );
    expect(served10).toEqual(expected10);

    await server.ramp('v2', 0.5);
    const at50 = await manifest(server);
    expect(at50.rollout).toBe(at10.rollout);
    // Every prediction names the version that produced it.
    const [{ example }] = world(1, 1);
    const phase50 = await everyDevice(async (learner) => {
      await learner.checkForUpdates();
      const served = (await learner.stats()).versionId;
      return [
        served,
        await expectedArm(learner, at50),
        (await learner.predict(example)).versionId,
      ] as const;
    });
    const [served50, expected50] = unzip(phase50);
    expect(served50).toEqual(expected50);
    served10.forEach((version, i) => {
      if (version === 'v2') expect(served50[i]).toBe('v2');
    });
    expect(phase50.map(([, , answered]) => answered)).toEqual(served50);
    console.info(
      `rollout: v2 on ${served10.filter((v) => v === 'v2').length}/20 at 10 %, ${served50.filter((v) => v === 'v2').length}/20 at 50 %`,
    );
  });

  test('a staged version learns in the shadow of production and takes over personalised', async () => {
    const server = await lab();
    const learner = await device(server);
    const staged = nextRollout(learner, 'staged');
    await server.publish({ bytes: passingBackbone(8), weight: 1, semver: '2.0.0' });
    await learner.checkForUpdates();
    expect((await staged).versionId).toBe('v2');
    for (const [i, { example, label }] of world(2, 60).entries()) {
      await learner.observe(example, label, { id: `o${i}` });
    }
    const stats = await learner.stats();
    expect(stats.versionId).toBe('v2');
    expect(stats.versions.staged?.paired.n).toBe(60);
    expect(stats.versions.staged?.comparison).toBeUndefined(); // fewer than 100 paired
    for (const [i, { example, label }] of world(8, 60).entries()) {
      await learner.observe(example, label, { id: `p${i}` });
    }
    const compared = (await learner.stats()).versions.staged;
    expect(compared?.paired.n).toBe(120);
    expect(compared?.comparison?.mean).toBeCloseTo((compared?.paired.diffSum ?? 0) / 120, 12);
    expect(compared?.comparison?.lower).toBeLessThan(compared?.comparison?.upper ?? 0);
    // The staged head learned: its scores moved away from the fresh head's 0.5.
    const probe = world(3, 20).map((entry) => entry.example);
    const before = await learner.predict(probe);
    const promoted = nextRollout(learner, 'promoted');
    await server.promote('v2');
    await learner.checkForUpdates();
    await promoted;
    const after = await learner.predict(probe);
    expect(after.versionId).toBe('v2');
    expect(Array.from(after.scores)).toEqual(Array.from(before.scores));
    expect((await learner.stats()).versions).toMatchObject({ production: 'v2' });
  });

  test('a server rollback of production comes back from IndexedDB at once, without a download', async () => {
    const server = await lab();
    const learner = await device(server);
    await server.publish({ bytes: passingBackbone(8), weight: 1, semver: '2.0.0' });
    await learner.checkForUpdates();
    await server.promote('v2');
    await learner.checkForUpdates();
    expect((await learner.stats()).versions.production).toBe('v2');
    const since = (await server.log()).length;
    await server.rollback('v2');
    await learner.checkForUpdates();
    expect((await learner.stats()).versionId).toBe('v1');
    const downloads = (await server.log(since)).filter((e) => e.path.startsWith('/v1/models/'));
    expect(downloads).toEqual([]);
  });

  test('a device that leaves an arm on a ramp down comes back on the way up, and installs the version when it is promoted', async () => {
    const server = await lab();
    const learner = await device(server);
    await server.publish({ bytes: passingBackbone(8), weight: 1, semver: '2.0.0' });
    await learner.checkForUpdates();
    const bucket = (await learner.stats()).rollout?.bucket ?? 0;
    expect((await learner.stats()).versionId).toBe('v2');
    await server.ramp('v2', bucket / 2); // the device's bucket is now outside v2's range
    await learner.checkForUpdates();
    expect((await learner.stats()).versionId).toBe('v1');
    await server.ramp('v2', 1);
    await learner.checkForUpdates();
    expect((await learner.stats()).versionId).toBe('v2');
    await server.ramp('v2', bucket / 2);
    await learner.checkForUpdates();
    await server.promote('v2');
    await learner.checkForUpdates();
    const stats = await learner.stats();
    expect(stats.versions.production).toBe('v2');
    expect(stats.versionId).toBe('v2');
  });

  test('a staged version survives a reload with what it learned', async () => {
    const server = await lab();
    const options = fleetOf.options(server);
    const first = await createLearner(options);
    await first.checkForUpdates();
    await server.publish({ bytes: passingBackbone(8), weight: 1, semver: '2.0.0' });
    await first.checkForUpdates();
    for (const [i, { example, label }] of world(4, 30).entries()) {
      await first.observe(example, label, { id: `o${i}` });
    }
    const probe = world(5, 10).map((entry) => entry.example);
    const before = await first.predict(probe);
    await first.close();
    const second = fleetOf.adopt(await createLearner(options));
    const after = await second.predict(probe);
    expect(after.versionId).toBe('v2');
    expect(Array.from(after.scores)).toEqual(Array.from(before.scores));
  });

  test('swap under load: continuous predictions through stage and promote — none fails, each names one version', async () => {
    const server = await lab();
    const learner = await device(server);
    const probe = world(6, 16).map((entry) => entry.example);
    let running = true;
    const answers: string[] = [];
    const failures: unknown[] = [];
    const loop = async () => {
      while (running) {
        try {
          const result = await learner.predict(probe);
          if (!Array.from(result.scores).every(Number.isFinite)) failures.push('non-finite');
          answers.push(result.versionId);
        } catch (error) {
          failures.push(error);
        }
      }
    };
    const loops = [loop(), loop(), loop(), loop()];
    const staged = nextRollout(learner, 'staged');
    await server.publish({ bytes: passingBackbone(8), weight: 1, semver: '2.0.0' });
    await learner.checkForUpdates();
    await staged;
    const promoted = nextRollout(learner, 'promoted');
    await server.promote('v2');
    await learner.checkForUpdates();
    await promoted;
    const countAfterPromote = answers.length;
    await learner.predict(probe); // at least one more round trip after the swap
    running = false;
    await Promise.all(loops);
    expect(failures).toEqual([]);
    expect(new Set(answers)).toEqual(new Set(['v1', 'v2']));
    expect(answers.slice(countAfterPromote).every((version) => version === 'v2')).toBe(true);
  });

  test('a guardrail rolls a slow staged version back on the device at once, and reports it', async () => {
    const server = await lab();
    const learner = await device(server, {
      guardrails: { latencyBudgetMs: 0, slowCallsInARow: 3 },
    });
    await server.publish({ bytes: passingBackbone(8), weight: 1, semver: '2.0.0' });
    await learner.checkForUpdates();
    expect((await learner.stats()).versionId).toBe('v2');
    const rolledBack = nextRollout(learner, 'rolled_back');
    const [{ example }] = world(7, 1);
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push((await learner.predict(example)).versionId);
    expect((await rolledBack).reason).toMatch(/^guardrail latency:/);
    expect(answers).toEqual(['v2', 'v2', 'v2', 'v1']);
    const stats = await learner.stats();
    expect(stats.versions.guardrailRollbacks).toBe(1);
    // The manifest still stages v2 for this device: it is not tried again.
    await learner.checkForUpdates();
    expect((await learner.stats()).versionId).toBe('v1');
  });
});
