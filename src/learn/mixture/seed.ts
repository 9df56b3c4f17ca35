/**
 * A head trained elsewhere (a version's `head.json`: one optimizer, trained on the server's
 * history) seeding the default mixture on the device: every candidate starts from the server
 * head's weights and intercepts, and the candidate with the server head's own optimizer also
 * takes its accumulators and update count, so it continues exactly as that single head would
 * have (with SGD's 'optimal' schedule, at the small step the server's history earned). The
 * other candidates start their own accumulators afresh on those weights. The weights π start
 * at the seed's optimizer (99%, see {@link SEEDED_OTHERS}): the others must earn theirs on the
 * device's own outcomes (a fresh head, with no server head, starts uniform).
 *
 * A state that already is a mixture (a snapshot of the device's own head) is restored as it is.
 *
 * ```ts
 * import { createHead, seedHead } from '../index.ts';
 * const server = createHead({ task: 'binary', dim: 2, optimizer: { kind: 'sgd' } });
 * server.partialFit([1, 0], 1);
 * const device = seedHead(server.exportState());
 * device.candidates().map((c) => c.name); // ['sgd', 'adagrad'] (0.99, 0.01)
 * ```
 */
import type { Head, HeadState, MixtureConfig as MixtureOptions } from '../types.ts';

/**
 * FTRL computes its weights from z (and n) rather than stepping them, so copied weights alone
 * would be recomputed away by its first update: set z so that, with n = 0, its closed form
 * gives back exactly the seed's weights, w = −(z − sgn(z)·λ1) / (β/α + λ2).
 */
function seedFtrl(
  seeded: HeadState,
  k: number,
  state: HeadState,
  ftrl: { alpha?: number; beta?: number },
  l1: number,
  l2: number,
): void {
  const scale = (ftrl.beta ?? 1) / (ftrl.alpha ?? 0.1);
  const z = seeded.slots[`${k}.z`];
  const zIntercept = seeded.slots[`${k}.zIntercept`];
  state.weights.forEach((w, i) => {
    z[i] = w === 0 ? 0 : -w * (scale + l2) - Math.sign(w) * l1;
  });
  state.intercepts.forEach((b, i) => {
    zIntercept[i] = -b * scale;
  });
}

/**
 * The prior weight the candidates other than the seed's own optimizer share when a server head
 * seeds the mixture: the seed's optimizer carries the server's evidence, the others must earn
 * theirs (Bayes' rule accepts any prior; the bound against candidate k becomes ln(1/π_k),
 * here ln 100 ≈ 4.6 nats). Measured on the MovieLens replay, per-user / pooled AUC: uniform
 * prior 0.6728 / 0.8439, 0.1: 0.6719 / 0.8443, 0.01: 0.6751 / 0.8443 (SGD alone:
 * 0.6757 / 0.8422).
 */
const SEEDED_OTHERS = 0.01;

function sameSettings(a: object, b: object): boolean {
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return (
    ka.length === kb.length &&
    ka.every((key) =>
      Object.is((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]),
    )
  );
}

/**
 * The mixture a single head's state seeds; `restore` and `create` are the library's own
 * (passed in so this file does not import the module that exports it).
 */
export function seedMixture(
  state: HeadState,
  restore: (state: HeadState) => Head,
  create: (
    config:
      | HeadState['config']
      | (Omit<HeadState['config'], 'optimizer'> & { optimizer: MixtureOptions }),
  ) => Head,
  options: MixtureOptions = { kind: 'mixture' },
): Head {
  const single = restore(state); // checks the state, whatever it holds
  if (state.config.optimizer.kind === 'mixture') return single;
  const { optimizer: given, ...rest } = state.config;
  let fresh: HeadState;
  try {
    fresh = create({ ...rest, optimizer: options }).exportState();
  } catch {
    // Settings the mixture's candidates cannot take (e.g. l2 = 0, which SGD's 'optimal'
    // schedule needs > 0): the server head runs as it is, a single optimizer.
    return single;
  }
  const candidates =
    fresh.config.optimizer.kind === 'mixture' ? (fresh.config.optimizer.candidates ?? []) : [];
  const size = state.weights.length;
  const outputs = state.intercepts.length;
  const seeded: HeadState = { ...fresh, slots: { ...fresh.slots }, scalars: { ...fresh.scalars } };
  let matching = -1;
  candidates.forEach((candidate, k) => {
    seeded.weights.set(state.weights, k * size);
    seeded.intercepts.set(state.intercepts, k * outputs);
    if (!sameSettings(candidate, given)) {
      if (candidate.kind === 'ftrl') seedFtrl(seeded, k, state, candidate, rest.l1, rest.l2);
      return;
    }
    for (const [name, slot] of Object.entries(state.slots)) seeded.slots[`${k}.${name}`] = slot;
    for (const [name, value] of Object.entries(state.scalars))
      seeded.scalars[`${k}.${name}`] = value;
    seeded.scalars[`${k}.t`] = state.t;
    matching = k;
  });
  if (matching >= 0 && candidates.length > 1) {
    const others = SEEDED_OTHERS / (candidates.length - 1);
    candidates.forEach((_, k) => {
      seeded.scalars[`${k}.weight`] =
        k === matching ? 1 - others * (candidates.length - 1) : others;
    });
  }
  return restore(seeded);
}
