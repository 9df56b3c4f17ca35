/**
 * MovieLens as the trainer and the replay see it: the catalog (every movie, with its genre
 * flags and release year as content features), the server's history (the earliest share of
 * all ratings by time) and the replay (the rest, per user in time order). `like = rating ≥ 4`.
 * Browser-safe: it works on parsed rows (see `parse.ts`), wherever they came from.
 */
import type { InteractionHistory, ItemCatalog } from '../train/types.ts';
import { GENRES, type Movie, type Rating } from './parse.ts';

export const LIKE_THRESHOLD = 4;
export const HISTORY_SHARE = 0.8;

export interface ReplayUser {
  /** MovieLens userId. */
  userId: number;
  /** Catalog indices, in the order the user rated them. */
  items: Int32Array;
  labels: Uint8Array;
  ratings: Float32Array;
  times: Float64Array;
  /** Ratings this user has in the server's history. */
  historyCount: number;
}

export interface MovielensSplit {
  movies: Movie[];
  catalog: ItemCatalog;
  /** The server's history; its users are indices into `userIds`. */
  history: InteractionHistory;
  userIds: number[];
  replay: ReplayUser[];
  /** Timestamp of the last history rating. */
  cutTime: number;
}

/** Content features of the catalog: one flag per genre, then the release year. */
export function movieCatalog(movies: readonly Movie[]): ItemCatalog {
  const names = [...GENRES.map((g) => `genre:${g}`), 'year'];
  const known = movies.filter((m) => m.year !== undefined).map((m) => m.year as number);
  // The few titles without a year get the catalog's mean year (rounded), a neutral value.
  const fallback = Math.round(known.reduce((s, y) => s + y, 0) / Math.max(1, known.length));
  const width = names.length;
  const features = new Float32Array(movies.length * width);
  movies.forEach((movie, i) => {
    GENRES.forEach((genre, g) => {
      features[i * width + g] = movie.genres.includes(genre) ? 1 : 0;
    });
    features[i * width + GENRES.length] = movie.year ?? fallback;
  });
  return { count: movies.length, features, names };
}

/**
 * Sorts all ratings by time (ties keep the file's order), gives the earliest `share` to the
 * server and the rest to the replay.
 */
export function splitMovielens(
  ratings: readonly Rating[],
  movies: readonly Movie[],
  share = HISTORY_SHARE,
): MovielensSplit {
  const sortedMovies = [...movies].sort((a, b) => a.movie - b.movie);
  const movieIndex = new Map(sortedMovies.map((m, i) => [m.movie, i]));
  const order = ratings.map((_, i) => i).sort((a, b) => ratings[a].time - ratings[b].time || a - b);
  const userIds = [...new Set(ratings.map((r) => r.user))].sort((a, b) => a - b);
  const userIndex = new Map(userIds.map((u, i) => [u, i]));
  const cut = Math.floor(ratings.length * share);
  const indexOf = (r: Rating) => {
    const i = movieIndex.get(r.movie);
    if (i === undefined) throw new Error(`rating of movie ${r.movie}, which movies.csv lacks`);
    return i;
  };

  const rows = order.slice(0, cut).map((i) => ratings[i]);
  const history: InteractionHistory = {
    users: userIds.length,
    user: Int32Array.from(rows, (r) => userIndex.get(r.user) as number),
    item: Int32Array.from(rows, indexOf),
    label: Uint8Array.from(rows, (r) => (r.rating >= LIKE_THRESHOLD ? 1 : 0)),
    signal: Float32Array.from(rows, (r) => r.rating),
    time: Float64Array.from(rows, (r) => r.time),
  };
  const historyCount = new Map<number, number>();
  for (const r of rows) historyCount.set(r.user, (historyCount.get(r.user) ?? 0) + 1);

  const later = new Map<number, Rating[]>();
  for (const i of order.slice(cut)) {
    const r = ratings[i];
    const list = later.get(r.user);
    if (list) list.push(r);
    else later.set(r.user, [r]);
  }
  const replay = [...later.entries()]
    .sort(([a], [b]) => a - b)
    .map(([userId, list]) => ({
      userId,
      items: Int32Array.from(list, indexOf),
      labels: Uint8Array.from(list, (r) => (r.rating >= LIKE_THRESHOLD ? 1 : 0)),
      ratings: Float32Array.from(list, (r) => r.rating),
      times: Float64Array.from(list, (r) => r.time),
      historyCount: historyCount.get(userId) ?? 0,
    }));
  return {
    movies: sortedMovies,
    catalog: movieCatalog(sortedMovies),
    history,
    userIds,
    replay,
    cutTime: rows.length ? rows[rows.length - 1].time : Number.NEGATIVE_INFINITY,
  };
}

/** Users the replay reports on: at least `min` replayed ratings with both classes present. */
export function qualifies(user: ReplayUser, min = 20): boolean {
  let positives = 0;
  for (const y of user.labels) positives += y;
  return user.labels.length >= min && positives > 0 && positives < user.labels.length;
}
