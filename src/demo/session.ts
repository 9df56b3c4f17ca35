/**
 * The demo's loop, without the page: show a slate from the catalog ranked by the learner, take
 * the reaction (a click, or the simulated person's), and learn from it. It also keeps what the
 * panels draw: prequential accuracy per serving role (each reaction was predicted before it was
 * learned) and drift events of the error stream (ADWIN; Bifet & Gavaldà, 2007).
 */

import { catalogExample } from '../backbone/catalog.ts';
import type { Learner } from '../client/index.ts';
import { createDetector } from '../drift/index.ts';
import type { DemoWorld, SimulatedUser } from './world.ts';

export const SLATE_SIZE = 8;
/** Reactions in the rolling accuracy. */
export const ROLLING = 50;
/** Points the chart keeps (the latest): redrawing stays cheap however long the demo runs. */
export const CHART_POINTS = 1_200;

export interface Slate {
  items: number[];
  scores: Float32Array;
  versionId: string;
}

export interface DriftEvent {
  /** 'detected': ADWIN found a change in the error rate; 'shift': the person's taste was shifted. */
  kind: 'detected' | 'shift';
  at: number;
  round: number;
  reaction: number;
  versionId: string;
  /** Error rate of the last ROLLING reactions when the change was found. */
  recentError: number;
}

export type Role = 'production' | 'staged';

/** One point per reaction: the rolling accuracy of the role that served it. */
export interface MetricSeries {
  x: number[];
  production: (number | null)[];
  staged: (number | null)[];
}

export class DemoSession {
  rounds = 0;
  reactions = 0;
  readonly drifts: DriftEvent[] = [];
  readonly series: MetricSeries = { x: [], production: [], staged: [] };
  /** The staged version this device serves, as last heard from the learner. */
  stagedId: string | undefined;
  private readonly windows: Record<Role, number[]> = { production: [], staged: [] };
  private readonly errors: number[] = [];
  private readonly detector = createDetector('adwin');

  readonly learner: Learner;
  readonly world: DemoWorld;
  readonly person: SimulatedUser;
  constructor(learner: Learner, world: DemoWorld, person: SimulatedUser) {
    this.learner = learner;
    this.world = world;
    this.person = person;
  }

  /** A new slate of distinct items the person might come across, scored by the learner. */
  async slate(): Promise<Slate> {
    const shown = new Set<number>();
    while (shown.size < SLATE_SIZE) shown.add(this.person.pick());
    const items = [...shown];
    const { scores, versionId } = await this.learner.predict(
      items.map((i) => catalogExample(this.world.catalog, i)),
    );
    return { items, scores, versionId };
  }

  /**
   * Learns the reactions to a slate: the clicked item is a like and the rest are skips; with no
   * click, the simulated person decides each item. Resolves once all are durable and learned.
   */
  async react(slate: Slate, clicked?: number): Promise<number[]> {
    const labels = slate.items.map((i) =>
      clicked === undefined ? this.person.react(i) : i === clicked ? 1 : 0,
    );
    const role: Role = slate.versionId === this.stagedId ? 'staged' : 'production';
    for (const [k, label] of labels.entries()) this.record(slate, role, label, slate.scores[k]);
    await Promise.all(
      slate.items.map((i, k) =>
        this.learner.observe(catalogExample(this.world.catalog, i), labels[k]),
      ),
    );
    this.rounds++;
    return labels;
  }

  /** Shifts the simulated person's taste (the learner is not told) and notes when. */
  shiftTaste(versionId: string): void {
    this.person.shift();
    this.drifts.push({
      kind: 'shift',
      at: Date.now(),
      round: this.rounds + 1,
      reaction: this.reactions,
      versionId,
      recentError: this.errors.length
        ? this.errors.reduce((a, b) => a + b, 0) / this.errors.length
        : Number.NaN,
    });
  }

  /** Rolling accuracy of the role's last ROLLING reactions (NaN before any). */
  accuracy(role: Role): number {
    const window = this.windows[role];
    return window.length ? window.reduce((a, b) => a + b, 0) / window.length : Number.NaN;
  }

  private record(slate: Slate, role: Role, label: number, score: number): void {
    const hit = (score >= 0.5 ? 1 : 0) === label ? 1 : 0;
    const window = this.windows[role];
    window.push(hit);
    if (window.length > ROLLING) window.shift();
    this.reactions++;
    this.series.x.push(this.reactions);
    const value = window.reduce((a, b) => a + b, 0) / window.length;
    this.series.production.push(role === 'production' ? value : null);
    this.series.staged.push(role === 'staged' ? value : null);
    if (this.series.x.length > CHART_POINTS) {
      this.series.x.shift();
      this.series.production.shift();
      this.series.staged.shift();
    }
    this.errors.push(1 - hit);
    if (this.errors.length > ROLLING) this.errors.shift();
    if (this.detector.update(1 - hit)) {
      this.drifts.push({
        kind: 'detected',
        at: Date.now(),
        round: this.rounds + 1,
        reaction: this.reactions,
        versionId: slate.versionId,
        recentError: this.errors.reduce((a, b) => a + b, 0) / this.errors.length,
      });
    }
  }
}
