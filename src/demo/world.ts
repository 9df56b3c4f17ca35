/**
 * The demo's world: a synthetic movie catalog and a simulator of users with latent tastes,
 * generated from a seed. It exists so that the demo ships a trained model and a catalog that
 * the project may redistribute — nothing here comes from a real data set. See README.md.
 *
 * Latent space: every item has a taste vector v_i (TASTE_DIMS numbers) and a quality q_i;
 * every user a taste vector u and a bias b. A user likes an item with probability
 *
 *   P(like) = σ(b + q_i + u · v_i)
 *
 * Content features follow the latent vector, so they carry part of the taste signal, as
 * genres do in real catalogs: each genre has a prototype direction in taste space and an item
 * has the genres whose prototypes it points at most (one to three); release years drift along
 * one taste axis (older films lean one way). Exposure is Zipf-like: items have a popularity
 * weight, so some are shown far more often than others, as on any real service.
 *
 * Drift: a user's taste can *shift* — at a random point of their history the taste vector
 * moves to u' = ρ·u + √(1 − ρ²)·z for a fresh z, and the bias moves too. The demo uses it to
 * show drift detection and the head following the new taste.
 *
 * Everything is drawn from mulberry32 streams (src/random.ts) with Box–Muller normals,
 * so a seed gives the same world in every JavaScript engine.
 */
import type { ItemCatalog } from '../backbone/catalog.ts';
import { mulberry32, type Random } from '../random.ts';

/** The demo world's seed and size: the built model in public/models/demo/ is made from them. */
export const DEMO_SEED = 20_240_611;
export const DEMO_ITEMS = 300;

export const TASTE_DIMS = 4;

export const DEMO_GENRES = [
  'Action',
  'Adventure',
  'Animation',
  'Comedy',
  'Crime',
  'Documentary',
  'Drama',
  'Fantasy',
  'Horror',
  'Romance',
  'Sci-Fi',
  'Thriller',
] as const;

const ADJECTIVES = [
  'Silent',
  'Crimson',
  'Hidden',
  'Last',
  'Broken',
  'Golden',
  'Distant',
  'Midnight',
  'Wild',
  'Frozen',
  'Electric',
  'Secret',
  'Lonely',
  'Burning',
  'Hollow',
  'Paper',
  'Velvet',
  'Iron',
  'Glass',
  'Northern',
  'Lost',
  'Bright',
  'Quiet',
  'Savage',
];
const NOUNS = [
  'Harbor',
  'Garden',
  'Empire',
  'Signal',
  'River',
  'Machine',
  'Kingdom',
  'Letter',
  'Storm',
  'Station',
  'Mirror',
  'Frontier',
  'Orchard',
  'Circus',
  'Island',
  'Lantern',
  'Echo',
  'Summer',
  'Voyage',
  'Tower',
  'Country',
  'Promise',
  'Shadow',
  'Engine',
];

/** A standard normal from two uniforms (Box–Muller; uses only sqrt, log, cos). */
export function normal(random: Random): number {
  const u = 1 - random(); // (0, 1]: log(0) never happens
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

export interface DemoItem {
  id: number;
  title: string;
  genres: string[];
  year: number;
  /** Latent truth, used by the simulator only (the model never sees it). */
  taste: number[];
  quality: number;
  popularity: number;
}

export interface DemoWorld {
  seed: number;
  items: DemoItem[];
  catalog: ItemCatalog;
}

/** The catalog: `count` items with titles, genres, years and their latent truth. */
export function createWorld(seed: number, count = 300): DemoWorld {
  const random = mulberry32(seed);
  const prototypes = DEMO_GENRES.map(() =>
    Array.from({ length: TASTE_DIMS }, () => normal(random)),
  );
  const titles = new Set<string>();
  const items: DemoItem[] = [];
  for (let id = 0; id < count; id++) {
    const taste = Array.from({ length: TASTE_DIMS }, () => normal(random));
    const quality = 0.6 * normal(random);
    const affinity = prototypes.map(
      (p, g) => [g, p.reduce((s, x, k) => s + x * taste[k], 0) + 0.8 * normal(random)] as const,
    );
    affinity.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
    const genreCount = 1 + Math.floor(random() * 3);
    const genres = affinity
      .slice(0, genreCount)
      .map(([g]) => g)
      .sort((a, b) => a - b)
      .map((g) => DEMO_GENRES[g]);
    // Older films lean one way on the first taste axis.
    const year = Math.round(
      Math.min(2024, Math.max(1950, 1995 + 12 * taste[0] + 10 * normal(random))),
    );
    let title = '';
    for (let attempt = 0; title === '' || titles.has(title); attempt++) {
      const adjective = ADJECTIVES[Math.floor(random() * ADJECTIVES.length)];
      const noun = NOUNS[Math.floor(random() * NOUNS.length)];
      title = attempt < 3 ? `The ${adjective} ${noun}` : `The ${adjective} ${noun} ${attempt}`;
    }
    titles.add(title);
    const popularity = Math.exp(0.8 * quality + 1.2 * normal(random));
    items.push({ id, title, genres, year, taste, quality, popularity });
  }
  return { seed, items, catalog: demoCatalog(items) };
}

/** Content features the model sees: genre flags, then the release year. */
export function demoCatalog(items: readonly DemoItem[]): ItemCatalog {
  const names = [...DEMO_GENRES.map((g) => `genre:${g}`), 'year'];
  const width = names.length;
  const features = new Float32Array(items.length * width);
  items.forEach((item, i) => {
    DEMO_GENRES.forEach((genre, g) => {
      features[i * width + g] = item.genres.includes(genre) ? 1 : 0;
    });
    features[i * width + DEMO_GENRES.length] = item.year;
  });
  return { count: items.length, features, names };
}

export interface UserOptions {
  /** How strongly taste matters against quality and bias (default 1.2). */
  tasteScale?: number;
  /** Spread of user biases (default 0.8). */
  biasScale?: number;
}

/** A simulated user: latent taste and bias, with a shift of taste that can be triggered. */
export class SimulatedUser {
  taste: number[];
  bias: number;
  private readonly random: Random;

  readonly world: DemoWorld;
  constructor(world: DemoWorld, seed: number, options: UserOptions = {}) {
    this.world = world;
    this.random = mulberry32(seed);
    const scale = options.tasteScale ?? 1.2;
    this.taste = Array.from({ length: TASTE_DIMS }, () => scale * normal(this.random));
    this.bias = (options.biasScale ?? 0.8) * normal(this.random);
  }

  /** P(like) of item i now. */
  probability(i: number): number {
    const item = this.world.items[i];
    let z = this.bias + item.quality;
    for (let k = 0; k < TASTE_DIMS; k++) z += this.taste[k] * item.taste[k];
    return 1 / (1 + Math.exp(-z));
  }

  /** The user's reaction to item i: 1 = liked, 0 = not. */
  react(i: number): 0 | 1 {
    return this.random() < this.probability(i) ? 1 : 0;
  }

  /** An item to show, drawn by popularity (Zipf-like exposure). */
  pick(): number {
    const items = this.world.items;
    let total = 0;
    for (const item of items) total += item.popularity;
    let r = this.random() * total;
    for (let i = 0; i < items.length; i++) {
      r -= items[i].popularity;
      if (r < 0) return i;
    }
    return items.length - 1;
  }

  /** Taste shift: u ← ρ·u + √(1 − ρ²)·z, and the bias moves by a fresh normal × `biasMove`. */
  shift(rho = 0.3, biasMove = 0.5): void {
    const keep = Math.sqrt(1 - rho * rho);
    const norm = Math.sqrt(this.taste.reduce((s, x) => s + x * x, 0) / TASTE_DIMS) || 1;
    this.taste = this.taste.map((x) => rho * x + keep * norm * normal(this.random));
    this.bias += biasMove * normal(this.random);
  }
}

/** A fresh user's first `count` interactions (for checks and the demo's replay). */
export function simulateSession(
  world: DemoWorld,
  seed: number,
  count: number,
): { items: Int32Array; labels: Uint8Array } {
  const user = new SimulatedUser(world, seed);
  const items = new Int32Array(count);
  const labels = new Uint8Array(count);
  for (let t = 0; t < count; t++) {
    items[t] = user.pick();
    labels[t] = user.react(items[t]);
  }
  return { items, labels };
}
