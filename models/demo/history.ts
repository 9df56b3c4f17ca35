/**
 * The demo model's training history: the demo world's users (src/demo/world.ts) arriving at
 * random times and interacting in sessions, as the sync server would have logged them. The
 * demo page uses the same world for its simulated user, so the model is trained on the
 * tastes the page then shows.
 */
import { type DemoWorld, SimulatedUser } from '../../src/demo/world.ts';
import { mulberry32 } from '../../src/random.ts';
import type { InteractionHistory } from '../train/types.ts';

export interface HistoryOptions {
  users: number;
  /** Mean interactions per user (each user gets 10 … 3 × mean − 10, uniformly). */
  perUser: number;
  /** Share of users whose taste shifts once, somewhere in their history (default 0.3). */
  shifting?: number;
}

/**
 * The server's history: users arrive at random times and interact in sessions; rows are
 * sorted by time. Also returns the users, to continue them (e.g. for a replay).
 */
export function simulateHistory(
  world: DemoWorld,
  seed: number,
  options: HistoryOptions,
): { history: InteractionHistory; users: SimulatedUser[] } {
  const random = mulberry32(seed);
  const rows: { user: number; item: number; label: number; time: number }[] = [];
  const users: SimulatedUser[] = [];
  for (let u = 0; u < options.users; u++) {
    const user = new SimulatedUser(world, (seed * 7919 + u * 104729) >>> 0);
    users.push(user);
    const count = 10 + Math.floor(random() * (2 * options.perUser - 19));
    const shiftAt =
      random() < (options.shifting ?? 0.3)
        ? Math.floor(random() * count)
        : Number.POSITIVE_INFINITY;
    let time = random() * 1000;
    for (let t = 0; t < count; t++) {
      if (t === shiftAt) user.shift();
      const item = user.pick();
      rows.push({ user: u, item, label: user.react(item), time });
      time += random() < 0.1 ? 5 + 20 * random() : 0.01 * random();
    }
  }
  rows.sort((a, b) => a.time - b.time || a.user - b.user);
  return {
    history: {
      users: options.users,
      user: Int32Array.from(rows, (r) => r.user),
      item: Int32Array.from(rows, (r) => r.item),
      label: Uint8Array.from(rows, (r) => r.label),
      time: Float64Array.from(rows, (r) => r.time),
    },
    users,
  };
}
