/**
 * Slates: a prediction over N candidates (a feed, a list of suggestions) and the outcomes that
 * follow on some of them, evaluated with P@k, R@k and NDCG@k (src/metrics/ranking.ts) once
 * the slate closes. A slate closes when the app opens the next slate on the same surface, when
 * it is closed explicitly, when it is older than the TTL, when too many are open (the least
 * recently used one goes first; counted as evicted), or when the reporter flushes.
 *
 * A slate is evaluated as it stands when it closes: outcomes that come later find no slate and
 * are counted as unmatched. A slate no candidate of which turned out relevant has no recall or
 * NDCG and is not measured (counted as unjudged): counting it as 0 would make the metrics
 * mostly measure how often users engage, which CTR already says, rather than how well the
 * engaged-with candidates were ranked.
 *
 * Pure logic on an injectable clock, in memory only: the reporter stores what closed slates add
 * up to, but slates still open when the page dies are never evaluated.
 */
import { LearnerError } from '../errors.ts';
import { rankingAtK } from '../metrics/ranking.ts';
import type { RankingSums } from '../protocol/index.ts';

export interface SlateOptions {
  /** The cut-off of P@k, R@k and NDCG@k, 1–1000 (default 10); one per app and version. */
  k: number;
  /** A slate this long open is evaluated as it stands (default 30 min). */
  ttlMs: number;
  /** Slates open at most (default 256): opening one more evicts the least recently used. */
  maxOpen: number;
  /** Candidates per slate at most (default 1000). */
  maxCandidates: number;
}

export const SLATE_DEFAULTS: Readonly<SlateOptions> = {
  k: 10,
  ttlMs: 30 * 60_000,
  maxOpen: 256,
  maxCandidates: 1000,
};

/** The options with defaults filled in; BAD_CONFIG for one that cannot work. */
export function resolveSlateOptions(options: Partial<SlateOptions> = {}): SlateOptions {
  const resolved = { ...SLATE_DEFAULTS, ...options };
  const check = (name: keyof SlateOptions, min: number, max: number) => {
    const value = resolved[name];
    if (!(Number.isInteger(value) && value >= min && value <= max)) {
      throw new LearnerError(
        'BAD_CONFIG',
        `ranking.${name} must be an integer in [${min}, ${max}], not ${value}`,
      );
    }
  };
  check('k', 1, 1000);
  check('ttlMs', 1, Number.MAX_SAFE_INTEGER);
  check('maxOpen', 1, 1_000_000);
  check('maxCandidates', 2, 1_000_000);
  return resolved;
}

/** A slate as the learner opens it at predict time. */
export interface SlateOpening {
  /** Unique among open slates (1–256 characters); outcomes name their slate by it. */
  id: string;
  /** The version that scored the candidates: the results count for it. */
  versionId: string;
  /** One score per candidate (at least 2), in the order the candidates were given. */
  scores: ArrayLike<number>;
  /** Where the slate is shown: the next slate opened on the same surface closes this one. */
  surface?: string;
}

/** What closed slates add to one version's windows. */
export interface SlateResults {
  versionId: string;
  ranking: RankingSums;
}

export interface SlateStats {
  /** Slates open now. */
  open: number;
  /** Slates measured (at least one relevant candidate), since this tracker started. */
  evaluated: number;
  /** Slates closed with no relevant candidate: not measured. */
  unjudged: number;
  /** Slates closed early because `maxOpen` were open. */
  evicted: number;
  /** Slates closed by their TTL. */
  expired: number;
  /**
   * Outcomes that named a slate not open (already closed, evicted, or opened before a
   * restart) or a candidate it does not have.
   */
  unmatched: number;
}

interface Slate {
  id: string;
  versionId: string;
  surface: string | undefined;
  scores: Float64Array;
  gains: Float64Array;
  openedAt: number;
}

const MAX_ID = 256;

export class SlateTracker {
  readonly options: SlateOptions;
  /** By id, least recently used first: a Map keeps insertion order, and a touch re-inserts. */
  private readonly byUse = new Map<string, Slate>();
  /** By id, in the order they opened: the TTL closes from the front. */
  private readonly byAge = new Map<string, Slate>();
  /** The open slate of each surface. */
  private readonly bySurface = new Map<string, string>();
  private readonly counts = { evaluated: 0, unjudged: 0, evicted: 0, expired: 0, unmatched: 0 };

  private readonly now: () => number;
  constructor(options: Partial<SlateOptions> = {}, now: () => number = Date.now) {
    this.now = now;
    this.options = resolveSlateOptions(options);
  }

  /**
   * Opens a slate. Returns the results of the slates this closed: expired ones, the surface's
   * previous slate, and an evicted one. Throws BAD_INPUT, changing nothing, for an id that is
   * empty, too long or already open, fewer than 2 or more than `maxCandidates` scores, or a
   * score that is not finite.
   */
  open(slate: SlateOpening): SlateResults[] {
    const { id, versionId, scores, surface } = slate;
    if (typeof id !== 'string' || id.length === 0 || id.length > MAX_ID) {
      throw new LearnerError('BAD_INPUT', `a slate id must be 1–${MAX_ID} characters`);
    }
    const existing = this.byUse.get(id);
    if (existing && this.now() - existing.openedAt < this.options.ttlMs) {
      throw new LearnerError('BAD_INPUT', `slate ${id} is already open`);
    }
    if (typeof versionId !== 'string' || versionId.length === 0) {
      throw new LearnerError('BAD_INPUT', `slate ${id} needs the version that scored it`);
    }
    if (surface !== undefined && typeof surface !== 'string') {
      throw new LearnerError('BAD_INPUT', `slate ${id}: a surface is a string`);
    }
    const n = scores?.length;
    if (!(Number.isInteger(n) && n >= 2 && n <= this.options.maxCandidates)) {
      throw new LearnerError(
        'BAD_INPUT',
        `slate ${id} has ${n} candidates: it needs 2–${this.options.maxCandidates}`,
      );
    }
    const copy = Float64Array.from(scores);
    for (let i = 0; i < n; i++) {
      if (!Number.isFinite(copy[i])) {
        throw new LearnerError('BAD_INPUT', `slate ${id}: score ${i} is ${scores[i]}`);
      }
    }

    const closed = this.expired();
    if (this.byUse.has(id)) {
      // Expired, but behind a younger slate (the clock was set back): closed all the same.
      closed.push(this.remove(id)!);
      this.counts.expired++;
    }
    const previous = surface === undefined ? undefined : this.bySurface.get(surface);
    if (previous !== undefined) closed.push(this.remove(previous)!);
    while (this.byUse.size >= this.options.maxOpen) {
      const oldest = this.byUse.keys().next().value as string;
      closed.push(this.remove(oldest)!);
      this.counts.evicted++;
    }
    const opened: Slate = {
      id,
      versionId,
      surface,
      scores: copy,
      gains: new Float64Array(n),
      openedAt: this.now(),
    };
    this.byUse.set(id, opened);
    this.byAge.set(id, opened);
    if (surface !== undefined) this.bySurface.set(surface, id);
    return this.evaluate(closed);
  }

  /**
   * Records an outcome on a candidate: it is relevant with this gain (> 0), or seen and not
   * relevant (0); a candidate keeps its highest gain. False, counted as unmatched, when the
   * slate is not open (or past its TTL) or has no such candidate, or the gain is not a finite
   * number ≥ 0.
   */
  mark(slateId: string, candidate: number, gain: number): boolean {
    const slate = this.byUse.get(slateId);
    const usable =
      slate !== undefined &&
      this.now() - slate.openedAt < this.options.ttlMs &&
      Number.isInteger(candidate) &&
      candidate >= 0 &&
      candidate < slate.gains.length &&
      Number.isFinite(gain) &&
      gain >= 0;
    if (!usable) {
      this.counts.unmatched++;
      return false;
    }
    slate.gains[candidate] = Math.max(slate.gains[candidate], gain);
    this.byUse.delete(slateId);
    this.byUse.set(slateId, slate);
    return true;
  }

  /** Closes one slate (the app says it is done with it); [] if it is not open. */
  close(slateId: string): SlateResults[] {
    const slate = this.remove(slateId);
    return this.evaluate(slate ? [slate] : []);
  }

  /** Closes the slates open for at least the TTL. */
  closeExpired(): SlateResults[] {
    return this.evaluate(this.expired());
  }

  /** Closes every slate (the reporter is flushing: the page may not come back). */
  closeAll(): SlateResults[] {
    const all = [...this.byAge.keys()].map((id) => this.remove(id)!);
    return this.evaluate(all);
  }

  /** When the oldest open slate reaches its TTL (epoch ms), or undefined if none is open. */
  nextExpiry(): number | undefined {
    const oldest = this.byAge.values().next();
    return oldest.done ? undefined : oldest.value.openedAt + this.options.ttlMs;
  }

  get stats(): SlateStats {
    return { open: this.byUse.size, ...this.counts };
  }

  private expired(): Slate[] {
    const now = this.now();
    const expired: Slate[] = [];
    // Opening order is age order unless the clock was set back; then a slate behind a younger
    // one waits for it, which only delays its close.
    for (const slate of this.byAge.values()) {
      if (now - slate.openedAt < this.options.ttlMs) break;
      expired.push(slate);
    }
    for (const slate of expired) this.remove(slate.id);
    this.counts.expired += expired.length;
    return expired;
  }

  private remove(id: string): Slate | undefined {
    const slate = this.byUse.get(id);
    if (!slate) return undefined;
    this.byUse.delete(id);
    this.byAge.delete(id);
    if (slate.surface !== undefined && this.bySurface.get(slate.surface) === id) {
      this.bySurface.delete(slate.surface);
    }
    return slate;
  }

  /** Each closed slate's P@k, R@k and NDCG@k, summed per version (in order of first close). */
  private evaluate(closed: Slate[]): SlateResults[] {
    const byVersion = new Map<string, RankingSums>();
    const { k } = this.options;
    for (const slate of closed) {
      const result = rankingAtK(slate.scores, slate.gains, k);
      if (!result) {
        this.counts.unjudged++;
        continue;
      }
      this.counts.evaluated++;
      let sums = byVersion.get(slate.versionId);
      if (!sums) {
        sums = { k, slates: 0, precisionSum: 0, recallSum: 0, ndcgSum: 0 };
        byVersion.set(slate.versionId, sums);
      }
      sums.slates += 1;
      sums.precisionSum += result.precision;
      sums.recallSum += result.recall;
      sums.ndcgSum += result.ndcg;
    }
    return [...byVersion].map(([versionId, ranking]) => ({ versionId, ranking }));
  }
}
