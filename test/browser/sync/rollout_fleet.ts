// What the rollout browser tests share: lab servers with v1 in production (the model every
// device ships with), real learners following them through the lab's proxy, the rollout events
// to await, and the clean-up after each test.
import type { PolicyOptions } from '../../../server/rollout/policy.ts';
import type {
  Learner,
  LearnerOptions,
  RolloutOptions,
  SyncOptions,
} from '../../../src/client/index.ts';
import { createLearner } from '../../../src/client/index.ts';
import type { LearnerEventMap } from '../../../src/runtime/events.ts';
import { deleteStore } from '../../../src/store/index.ts';
import type { LabServer } from './rollout_lab.ts';
import { newLabServer } from './rollout_lab.ts';
import { passingBackbone } from './rollout_models.ts';

/** v1: production on every lab server, and the model every device ships with. */
export const shipped = passingBackbone(2);

/** A device's options beyond what the lab server decides (its URL, app key and public key). */
export type DeviceOptions = Omit<Partial<LearnerOptions>, 'sync' | 'rollout'> & {
  sync?: Partial<SyncOptions>;
  rollout?: Partial<RolloutOptions>;
};

export class RolloutFleet {
  private readonly learners: Learner[] = [];
  private readonly databases: string[] = [];
  private readonly labs: LabServer[] = [];

  /** A fresh lab server (its own database) with v1 published and promoted. */
  async lab(policy?: PolicyOptions): Promise<LabServer> {
    const server = await newLabServer(policy ? { policy } : undefined);
    this.labs.push(server);
    const v1 = await server.publish({ bytes: shipped, weight: 0, semver: '1.0.0' });
    await server.promote(v1.id);
    return server;
  }

  /** A database name cleaned up after the test. */
  database(): string {
    const name = `rollout-${crypto.randomUUID()}`;
    this.databases.push(name);
    return name;
  }

  /** The options of a device following `server` (its own database unless `store` says). */
  options(server: LabServer, extra: DeviceOptions = {}): LearnerOptions {
    return {
      model: { bytes: shipped },
      store: { name: this.database() },
      ...extra,
      sync: { ...extra.sync, url: server.url, appKey: server.appKey },
      rollout: { live: false, ...extra.rollout, publicKey: server.publicKey.raw },
    };
  }

  /** A learner following `server`, after its first manifest check. */
  async device(server: LabServer, extra: DeviceOptions = {}): Promise<Learner> {
    const learner = await createLearner(this.options(server, extra));
    this.learners.push(learner);
    await learner.checkForUpdates();
    return learner;
  }

  /** Closes a learner the test made itself, after the test. */
  adopt(learner: Learner): Learner {
    this.learners.push(learner);
    return learner;
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.learners.splice(0).map((learner) => learner.close().catch(() => {})));
    await Promise.all(this.databases.splice(0).map((name) => deleteStore(name)));
    await Promise.all(this.labs.splice(0).map((lab) => lab.close().catch(() => {})));
  }
}

/** The next rollout event of one kind, as the learner announces it. */
export function nextRollout(
  learner: Learner,
  action: LearnerEventMap['rollout']['action'],
): Promise<LearnerEventMap['rollout']> {
  return new Promise((resolve) => {
    const off = learner.on('rollout', (event) => {
      if (event.action !== action) return;
      off();
      resolve(event);
    });
  });
}
