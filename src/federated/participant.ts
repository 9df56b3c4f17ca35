/**
 * The device's part in federated rounds (issue 20): when to contribute, and queuing the one
 * contribution per round. What a contribution is — delta, clip, optional local noise — is
 * contribution.ts; this file decides when, and hands the body to the outbox, which delivers it
 * (src/delivery/contributions.ts) exactly like a metric window: durable, retried, idempotent.
 *
 * Registered as learner hooks by startup.ts, like the reporter: the learner never imports it.
 * It hears every verified manifest from the rollout (`manifest`) and every learned outcome
 * (`outcomeLearned`), and contributes to an announced round when all of these hold:
 *
 * - the round's `baseVersionId` is the version this device serves (production, or the staged
 *   version of its arm: the one that serves here);
 * - `takesPart(roundId, installId, samplingRate)` (the server checks the same hash);
 * - the deadline has not passed;
 * - the serving version has learned at least `minOutcomes` outcomes since it was adopted here
 *   (the log's last learned seq minus the seq the version started at);
 * - the base version was published with a head (the manifest's `head`): the delta is taken
 *   against it;
 * - this device has not contributed to the round before.
 *
 * Exactly once. The outbox key `contribution:<roundId>` dedups while the record is queued; the
 * round ids contributed to are kept in the store's meta (`federated`), written right after the
 * record is queued, so neither a reload after the ack nor a second manifest contributes again.
 * A crash between the two writes leaves the record queued (same key: not queued twice); were it
 * acknowledged before the meta write, the server's once-per-install rule refuses a second body
 * (DUPLICATE_CONTRIBUTION, final: recorded in stats, dropped).
 *
 * Nothing but the clipped delta, the round's ids and the outcome count leaves the device: no
 * feature, label or outcome, and not the scaler's statistics (folded into the head first).
 */
import { type HeadJson, headFromJson } from '../learn/head_json.ts';
import type { ScalerState } from '../learn/scaler.ts';
import type { HeadState } from '../learn/types.ts';
import type { ContributionRequest, RoundAnnouncement } from '../protocol/federated.ts';
import { takesPart } from '../protocol/federated.ts';
import type { Manifest } from '../protocol/index.ts';
import { contribution, type Random } from './contribution.ts';

/** The outbox key of a round's contribution: one per round, so queuing it again is a no-op. */
export function contributionKey(roundId: string): string {
  return `contribution:${roundId}`;
}

/** What `stats().federated` shows. */
export interface FederatedStats {
  /** Rounds this device queued a contribution for (all time, oldest first). */
  contributed: string[];
  /** Rounds the server acknowledged (all time). */
  delivered: string[];
  /** The last contribution the server refused for good, and its code. */
  lastRefusal?: { roundId: string; code: string; at: number };
  /** Rounds announced now, and what became of each when last considered (why it was skipped). */
  rounds?: Record<string, Skip>;
}

/** The participant's state in the store's meta (`federated`). */
interface SavedState {
  format: 1;
  contributed: string[];
  delivered: string[];
  lastRefusal?: FederatedStats['lastRefusal'];
}

/** What the participant reads of the learner (startup.ts builds it). */
export interface ParticipantTarget {
  /** The version serving here, its learned state, and the seq it started at. */
  serving(): { versionId: string; head: HeadState; scaler?: ScalerState; startSeq: number };
  /** Seq of the last outcome learned. */
  learnedSeq(): number;
}

/** What the participant writes to: the store's outbox and meta. */
export interface ParticipantStore {
  outbox: { enqueue(key: string, body: unknown): Promise<{ duplicate: boolean }> };
  meta: {
    value(key: 'federated'): Promise<unknown>;
    setValue(key: 'federated', value: unknown): Promise<void>;
  };
}

export interface ParticipantDeps {
  target: ParticipantTarget;
  store: ParticipantStore;
  installId: () => Promise<string | undefined>;
  /** Sends what the outbox holds now (the reporter's delivery). */
  deliver: () => void;
  localNoise?: number;
  now?: () => number;
  random?: Random;
}

/** What became of a round when considered: why it was skipped, or `queued`. */
export type Skip =
  | 'done'
  | 'not_serving_base'
  | 'expired'
  | 'not_sampled'
  | 'too_few_outcomes'
  | 'no_base_head'
  | 'not_registered'
  | 'failed'
  /** Contributed: queued in the outbox now. */
  | 'queued';

export class Participant {
  private rounds: RoundAnnouncement[] = [];
  private heads = new Map<string, HeadJson>();
  private state: SavedState;
  private busy: Promise<unknown> = Promise.resolve();
  private readonly decisions = new Map<string, Skip>();
  private closed = false;
  private readonly deps: ParticipantDeps;
  private readonly now: () => number;

  private constructor(deps: ParticipantDeps, state: SavedState) {
    this.deps = deps;
    this.state = state;
    this.now = deps.now ?? Date.now;
  }

  static async open(deps: ParticipantDeps): Promise<Participant> {
    const saved = await deps.store.meta.value('federated');
    return new Participant(deps, isSavedState(saved) ? saved : emptyState());
  }

  /** A verified manifest: its rounds replace the ones known; each is considered now. */
  manifest(manifest: Manifest & { federated?: RoundAnnouncement[] }): Promise<Skip[]> {
    this.rounds = Array.isArray(manifest.federated) ? manifest.federated.filter(isRound) : [];
    this.heads = new Map();
    for (const version of manifest.versions) {
      if (version.head) this.heads.set(version.id, version.head as unknown as HeadJson);
    }
    return this.consider();
  }

  /** An outcome was learned: a round may have become due (cheap when none is waiting). */
  outcomeLearned(seq: number): void {
    if (this.waiting().length === 0) return;
    const { startSeq } = this.deps.target.serving();
    const learned = Math.max(seq, this.deps.target.learnedSeq()) - startSeq;
    if (this.waiting().some((round) => learned >= round.minOutcomes)) void this.consider();
  }

  /** Considers every announced round, one at a time; resolves with why each was skipped. */
  consider(): Promise<Skip[]> {
    const run = this.busy.then(async () => {
      const out: Skip[] = [];
      this.decisions.clear();
      for (const round of this.rounds) {
        const decision = await this.decide(round).catch((): Skip => 'failed');
        this.decisions.set(round.roundId, decision);
        out.push(decision);
      }
      return out;
    });
    this.busy = run.catch(() => undefined);
    return run;
  }

  /** The server's answer to a queued contribution (called by delivery). */
  async settled(key: string, result: { code?: string }): Promise<void> {
    const roundId = key.slice('contribution:'.length);
    const next = { ...this.state };
    if (result.code === undefined) {
      if (!next.delivered.includes(roundId)) next.delivered = [...next.delivered, roundId];
    } else {
      next.lastRefusal = { roundId, code: result.code, at: this.now() };
    }
    this.state = next;
    await this.save();
  }

  stats(): FederatedStats {
    return {
      contributed: [...this.state.contributed],
      delivered: [...this.state.delivered],
      ...(this.state.lastRefusal ? { lastRefusal: { ...this.state.lastRefusal } } : {}),
      ...(this.decisions.size > 0 ? { rounds: Object.fromEntries(this.decisions) } : {}),
    };
  }

  close(): void {
    this.closed = true;
  }

  /** Rounds announced and not yet contributed to. */
  private waiting(): RoundAnnouncement[] {
    return this.rounds.filter((round) => !this.state.contributed.includes(round.roundId));
  }

  private async decide(round: RoundAnnouncement): Promise<Skip> {
    if (this.closed || this.state.contributed.includes(round.roundId)) return 'done';
    const serving = this.deps.target.serving();
    if (serving.versionId !== round.baseVersionId) return 'not_serving_base';
    if (!(Date.parse(round.deadline) > this.now())) return 'expired';
    const learned = this.deps.target.learnedSeq() - serving.startSeq;
    if (learned < round.minOutcomes) return 'too_few_outcomes';
    const baseJson = this.heads.get(round.baseVersionId);
    if (!baseJson) return 'no_base_head';
    const installId = await this.deps.installId().catch(() => undefined);
    if (installId === undefined) return 'not_registered';
    if (!takesPart(round.roundId, installId, round.samplingRate)) return 'not_sampled';
    let body: ContributionRequest;
    try {
      const made = contribution(serving.head, headFromJson(baseJson), {
        clip: round.clip,
        ...(serving.scaler ? { scaler: serving.scaler } : {}),
        ...(this.deps.localNoise ? { localNoise: this.deps.localNoise } : {}),
        ...(this.deps.random ? { random: this.deps.random } : {}),
      });
      body = {
        roundId: round.roundId,
        baseVersionId: round.baseVersionId,
        outcomes: learned,
        delta: made.delta,
        ...(made.localNoise > 0 ? { localNoise: made.localNoise } : {}),
      };
    } catch {
      return 'failed'; // a head of another shape than the base's: nothing this device can send
    }
    if (this.closed) return 'done';
    await this.deps.store.outbox.enqueue(contributionKey(round.roundId), body);
    this.state = { ...this.state, contributed: [...this.state.contributed, round.roundId] };
    await this.save();
    this.deps.deliver();
    return 'queued';
  }

  private save(): Promise<void> {
    return this.deps.store.meta.setValue('federated', this.state);
  }
}

function emptyState(): SavedState {
  return { format: 1, contributed: [], delivered: [] };
}

function isSavedState(value: unknown): value is SavedState {
  const state = value as Partial<SavedState> | undefined;
  return (
    state?.format === 1 &&
    Array.isArray(state.contributed) &&
    state.contributed.every((id) => typeof id === 'string') &&
    Array.isArray(state.delivered)
  );
}

function isRound(value: unknown): value is RoundAnnouncement {
  const round = value as Partial<RoundAnnouncement> | null;
  return (
    typeof round?.roundId === 'string' &&
    typeof round.baseVersionId === 'string' &&
    typeof round.clip === 'number' &&
    typeof round.samplingRate === 'number' &&
    typeof round.minOutcomes === 'number' &&
    typeof round.deadline === 'string'
  );
}
