// The participant's decisions (src/federated/participant.ts) with real heads: which rounds a
// device contributes to, when, and that it does so once — across a second manifest and a
// reload on the same meta. The outbox and meta are the ports' in-memory forms (IndexedDB does
// not run in Node; test/browser/sync/federated.test.ts drives the real store and server).
import { describe, expect, test } from 'vitest';
import { deltaNorm, seededRandom } from '../../../src/federated/contribution.ts';
import type { ParticipantTarget } from '../../../src/federated/participant.ts';
import { contributionKey, Participant } from '../../../src/federated/participant.ts';
import { headToJson } from '../../../src/learn/head_json.ts';
import { createHead, restoreHead } from '../../../src/learn/index.ts';
import type { HeadState } from '../../../src/learn/types.ts';
import type {
  ContributionRequest,
  Manifest,
  RoundAnnouncement,
} from '../../../src/protocol/index.ts';
import { takesPart } from '../../../src/protocol/index.ts';

const NOW = Date.parse('2026-12-02T12:00:00Z');

function baseHead(): HeadState {
  const head = createHead({ task: 'binary', dim: 3, optimizer: { kind: 'sgd' } });
  const random = seededRandom(7);
  for (let i = 0; i < 50; i++) {
    const x = [random(), random(), random()];
    head.partialFit(x, x[0] > 0.5 ? 1 : 0);
  }
  return head.exportState();
}

/** A device serving `versionId` from `base`, learning outcomes for real. */
class Device implements ParticipantTarget {
  readonly head;
  readonly versionId: string;
  readonly startSeq: number;
  seq: number;
  constructor(versionId: string, base: HeadState, startSeq = 0) {
    this.versionId = versionId;
    this.startSeq = startSeq;
    this.head = restoreHead(base);
    this.seq = startSeq;
  }
  learn(n: number, participant?: Participant): void {
    const random = seededRandom(this.seq + 1);
    for (let i = 0; i < n; i++) {
      const x = [random(), random(), random()];
      this.head.partialFit(x, x[1] > 0.5 ? 1 : 0);
      this.seq++;
      participant?.outcomeLearned(this.seq);
    }
  }
  serving() {
    return { versionId: this.versionId, head: this.head.exportState(), startSeq: this.startSeq };
  }
  learnedSeq() {
    return this.seq;
  }
}

class MemoryStore {
  readonly queued = new Map<string, unknown>();
  enqueues = 0;
  meta: unknown;
  outbox = {
    enqueue: async (key: string, body: unknown) => {
      this.enqueues++;
      if (this.queued.has(key)) return { duplicate: true };
      this.queued.set(key, body);
      return { duplicate: false };
    },
  };
  metaPort = {
    value: async () => this.meta,
    setValue: async (_key: 'federated', value: unknown) => {
      this.meta = structuredClone(value);
    },
  };
}

function round(extra: Partial<RoundAnnouncement> = {}): RoundAnnouncement {
  return {
    roundId: 'r1',
    baseVersionId: 'v2',
    clip: 0.5,
    samplingRate: 1,
    minOutcomes: 20,
    deadline: new Date(NOW + 3_600_000).toISOString(),
    ...extra,
  };
}

function manifest(base: HeadState, rounds: RoundAnnouncement[]): Manifest {
  return {
    versions: [{ id: 'v2', head: headToJson(base) }],
    federated: rounds,
  } as unknown as Manifest;
}

async function participant(device: Device, store: MemoryStore, installId = 'install-1') {
  let delivers = 0;
  const made = await Participant.open({
    target: device,
    store: { outbox: store.outbox, meta: store.metaPort },
    installId: async () => installId,
    deliver: () => void delivers++,
    now: () => NOW,
  });
  return { participant: made, delivers: () => delivers };
}

describe('Participant', () => {
  test('contributes once it learned k outcomes on the base: a clipped delta, no outcome', async () => {
    const base = baseHead();
    const device = new Device('v2', base, 100);
    const store = new MemoryStore();
    const { participant: p, delivers } = await participant(device, store);
    device.learn(19);
    expect(await p.manifest(manifest(base, [round()]))).toEqual(['too_few_outcomes']);
    expect(store.queued.size).toBe(0);
    device.learn(1, p);
    expect(await p.consider()).toEqual(['done']); // the 20th outcome queued it
    const body = store.queued.get(contributionKey('r1')) as ContributionRequest;
    expect(Object.keys(body).sort()).toEqual(['baseVersionId', 'delta', 'outcomes', 'roundId']);
    expect(body).toMatchObject({ roundId: 'r1', baseVersionId: 'v2', outcomes: 20 });
    expect(body.delta.weights).toHaveLength(3);
    expect(body.delta.intercepts).toHaveLength(1);
    const norm = deltaNorm(body.delta);
    expect(norm).toBeGreaterThan(0);
    expect(norm).toBeLessThanOrEqual(0.5 * (1 + 1e-9));
    expect(delivers()).toBe(1);
    expect(p.stats()).toEqual({ contributed: ['r1'], delivered: [], rounds: { r1: 'done' } });
  });

  test('a device serving another version, a round past its deadline, or a base without head: no contribution', async () => {
    const base = baseHead();
    const store = new MemoryStore();
    const other = new Device('v1', base);
    other.learn(30);
    const { participant: p1 } = await participant(other, store);
    expect(await p1.manifest(manifest(base, [round()]))).toEqual(['not_serving_base']);
    const device = new Device('v2', base);
    device.learn(30);
    const { participant: p2 } = await participant(device, store);
    const expired = round({ deadline: new Date(NOW - 1).toISOString() });
    expect(await p2.manifest(manifest(base, [expired]))).toEqual(['expired']);
    const headless = { versions: [{ id: 'v2', head: null }], federated: [round()] };
    expect(await p2.manifest(headless as unknown as Manifest)).toEqual(['no_base_head']);
    expect(store.queued.size).toBe(0);
    expect(store.enqueues).toBe(0);
  });

  test('sampling follows takesPart: the same installs the server accepts', async () => {
    const base = baseHead();
    const installs = Array.from({ length: 40 }, (_, i) => `install-${i}`);
    const sampled = round({ samplingRate: 0.3 });
    let queued = 0;
    for (const installId of installs) {
      const device = new Device('v2', base);
      device.learn(20);
      const store = new MemoryStore();
      const { participant: p } = await participant(device, store, installId);
      const [decision] = await p.manifest(manifest(base, [sampled]));
      expect(decision).toBe(takesPart('r1', installId, 0.3) ? 'queued' : 'not_sampled');
      if (decision === 'queued') queued++;
    }
    expect(queued).toBeGreaterThan(0);
    expect(queued).toBeLessThan(installs.length);
  });

  test('once per round: a second manifest, more outcomes, or a reload on the same meta add nothing', async () => {
    const base = baseHead();
    const device = new Device('v2', base);
    device.learn(25);
    const store = new MemoryStore();
    const { participant: p } = await participant(device, store);
    expect(await p.manifest(manifest(base, [round()]))).toEqual(['queued']);
    const first = structuredClone(store.queued.get(contributionKey('r1')));
    device.learn(10, p);
    expect(await p.manifest(manifest(base, [round()]))).toEqual(['done']);
    // The ack arrives, the queued record is gone; a reload must not queue a new body.
    await p.settled(contributionKey('r1'), {});
    store.queued.clear();
    const { participant: reloaded } = await participant(device, store);
    expect(await reloaded.manifest(manifest(base, [round()]))).toEqual(['done']);
    expect(store.queued.size).toBe(0);
    expect(store.enqueues).toBe(1);
    expect(reloaded.stats()).toMatchObject({ contributed: ['r1'], delivered: ['r1'] });
    expect(first).toBeDefined();
    // A second round on the same base is a new contribution.
    expect(await reloaded.manifest(manifest(base, [round(), round({ roundId: 'r2' })]))).toEqual([
      'done',
      'queued',
    ]);
  });

  test('a final refusal is recorded in stats; local noise is sent as such', async () => {
    const base = baseHead();
    const device = new Device('v2', base);
    device.learn(25);
    const store = new MemoryStore();
    const p = await Participant.open({
      target: device,
      store: { outbox: store.outbox, meta: store.metaPort },
      installId: async () => 'install-1',
      deliver: () => undefined,
      localNoise: 0.5,
      random: seededRandom(3),
      now: () => NOW,
    });
    await p.manifest(manifest(base, [round()]));
    const body = store.queued.get(contributionKey('r1')) as ContributionRequest;
    expect(body.localNoise).toBe(0.5);
    await p.settled(contributionKey('r1'), { code: 'NOT_ELIGIBLE' });
    expect(p.stats().lastRefusal).toEqual({ roundId: 'r1', code: 'NOT_ELIGIBLE', at: NOW });
  });

  test('before registration nothing is queued; the next manifest tries again', async () => {
    const base = baseHead();
    const device = new Device('v2', base);
    device.learn(25);
    const store = new MemoryStore();
    let installId: string | undefined;
    const p = await Participant.open({
      target: device,
      store: { outbox: store.outbox, meta: store.metaPort },
      installId: async () => installId,
      deliver: () => undefined,
      now: () => NOW,
    });
    expect(await p.manifest(manifest(base, [round()]))).toEqual(['not_registered']);
    installId = 'install-1';
    expect(await p.manifest(manifest(base, [round()]))).toEqual(['queued']);
  });
});
