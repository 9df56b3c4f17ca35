/**
 * `localfit replay movielens [--data DIR] [--json] [--save DIR] [--quiet]`: the MovieLens
 * replay (see models/movielens/run.ts). With `--federated [--epsilon E] [--rounds R] [--clip C]
 * [--seed S]`: the fleet simulation instead (models/federated/movielens.ts). The earliest 80% of the ratings by time are the
 * server's history: the backbone and the global head are trained on them. Every later user
 * then gets a fresh learner initialised with that version, which predicts each rating before
 * learning it. Reported for users with ≥ 20 replayed ratings and both classes: mean per-user
 * and pooled ROC AUC of the static server model and of the on-device head.
 */
import { isLearnerError } from '../../src/errors.ts';
import type { Io } from './io.ts';

export const REPLAY_USAGE = `usage: localfit replay movielens [options]

Trains a version on the earliest 80% of MovieLens ratings (by time), then replays every later
user through a fresh on-device learner (predict, then learn, each rating) and compares it with
the static server model. like = rating >= 4; users with >= 20 replayed ratings and both classes.

options:
  --data DIR    MovieLens ml-latest-small directory (default: ../shared/data/movielens-small
                beside the repository)
  --json        print one JSON object: users, static_user_auc, ondevice_user_auc,
                static_pooled_auc, ondevice_pooled_auc
  --save DIR    also write the trained version there (model.onnx, head.json, spec.json, …)
  --quiet       no progress on stderr
  -h, --help    show this help

federated simulation (issue 20): the earlier 60% of the later users are a fleet of devices,
each learning on its own ratings; DP-FedAvg rounds (clipped head deltas, Gaussian noise at the
server, RDP accounting) train a new head, scored with the static and the centrally retrained
head on the remaining later users, whose ratings no head was trained on.
  --federated   run the fleet simulation
  --epsilon E   privacy budget after all rounds at delta = 1e-5 (default 8; 'inf': no noise)
  --rounds R    rounds (default: planned from E, the fleet's size and the head's width)
  --clip C      L2 clip norm of a device's delta (default 0.5)
  --seed S      seed of the noise (default 1)
  --json        with --federated: one JSON object with every printed figure`;

interface ReplayOptions {
  dataset: 'movielens';
  data?: string;
  save?: string;
  json: boolean;
  quiet: boolean;
  federated: boolean;
  epsilon?: number;
  rounds?: number;
  clip?: number;
  seed?: number;
}

class UsageError extends Error {}

export function parseReplayArgs(argv: readonly string[]): ReplayOptions | 'help' {
  if (argv.includes('-h') || argv.includes('--help')) return 'help';
  const [dataset, ...rest] = argv;
  if (dataset !== 'movielens')
    throw new UsageError(
      dataset === undefined ? 'missing data set' : `unknown data set '${dataset}'`,
    );
  const options: ReplayOptions = { dataset, json: false, quiet: false, federated: false };
  for (let i = 0; i < rest.length; i++) {
    const flag = rest[i];
    const value = () => {
      const next = rest[++i];
      if (next === undefined || next.startsWith('--'))
        throw new UsageError(`${flag} needs a value`);
      return next;
    };
    if (flag === '--data') options.data = value();
    else if (flag === '--save') options.save = value();
    else if (flag === '--json') options.json = true;
    else if (flag === '--quiet') options.quiet = true;
    else if (flag === '--federated') options.federated = true;
    else if (flag === '--epsilon') {
      const text = value();
      options.epsilon = /^(inf|infinity)$/i.test(text)
        ? Number.POSITIVE_INFINITY
        : positive(flag, text);
    } else if (flag === '--rounds') {
      const rounds = positive(flag, value());
      if (!Number.isInteger(rounds)) throw new UsageError('--rounds needs a whole number');
      options.rounds = rounds;
    } else if (flag === '--clip') options.clip = positive(flag, value());
    else if (flag === '--seed') options.seed = Math.trunc(positive(flag, value()));
    else throw new UsageError(`unknown option '${flag}'`);
  }
  const federatedOnly = [
    ['--epsilon', options.epsilon],
    ['--rounds', options.rounds],
    ['--clip', options.clip],
    ['--seed', options.seed],
  ].find(([, v]) => v !== undefined);
  if (federatedOnly && !options.federated)
    throw new UsageError(`${federatedOnly[0]} needs --federated`);
  if (options.federated && options.save)
    throw new UsageError("--save writes the replay's version; it does not go with --federated");
  return options;
}

function positive(flag: string, text: string): number {
  const n = Number(text);
  if (!(Number.isFinite(n) && n > 0)) throw new UsageError(`${flag} needs a number > 0`);
  return n;
}

const f = (value: number) => value.toFixed(4);

/** Runs `localfit replay …` (argv without the word 'replay'); resolves to the exit code. */
export async function replayCommand(argv: readonly string[], io: Io): Promise<number> {
  let options: ReplayOptions | 'help';
  try {
    options = parseReplayArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr(`localfit: ${error.message}\n\n${REPLAY_USAGE}`);
    return 2;
  }
  if (options === 'help') {
    io.stdout(REPLAY_USAGE);
    return 0;
  }
  let lastStep = '';
  let lastShown = 0;
  const quiet = options.quiet;
  const onProgress = (p: { step: string; done: number; total: number; elapsed: number }) => {
    if (quiet) return;
    const now = performance.now();
    if (p.step === lastStep && p.done < p.total && now - lastShown < 2000) return;
    lastStep = p.step;
    lastShown = now;
    io.stderr(`[${p.elapsed.toFixed(1)}s] ${p.step} ${p.done}/${p.total}`);
  };
  if (options.federated) return federatedCommand(options, io, onProgress);
  const { runMovielensReplay } = await import('../movielens/run.ts');
  try {
    const run = await runMovielensReplay({
      dataDir: options.data,
      saveDir: options.save,
      onProgress,
    });
    const s = run.summary;
    if (options.json) {
      io.stdout(
        JSON.stringify({
          users: s.users,
          static_user_auc: s.static_user_auc,
          ondevice_user_auc: s.ondevice_user_auc,
          static_pooled_auc: s.static_pooled_auc,
          ondevice_pooled_auc: s.ondevice_pooled_auc,
        }),
      );
    } else {
      io.stdout(
        [
          `MovieLens replay: ${s.users} users (>= 20 replayed ratings, both classes), ${s.interactions} ratings`,
          '                    per-user AUC   pooled AUC   log loss',
          `static server model     ${f(s.static_user_auc)}       ${f(s.static_pooled_auc)}     ${f(s.static_log_loss)}`,
          `on-device head          ${f(s.ondevice_user_auc)}       ${f(s.ondevice_pooled_auc)}     ${f(s.ondevice_log_loss)}`,
          `version ${run.version.sha256.slice(0, 12)} (${run.version.bytes.length} bytes), ` +
            `scales ${run.version.groups.map((g) => `${g.name} ${g.scale}`).join(', ')}`,
          `time: load ${run.seconds.load.toFixed(1)}s, train ${run.seconds.train.toFixed(1)}s, replay ${run.seconds.replay.toFixed(1)}s`,
          ...(options.save ? [`version written to ${options.save}`] : []),
        ].join('\n'),
      );
    }
    return 0;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    io.stderr(`localfit: ${isLearnerError(error) ? `${error.code}: ` : ''}${message}`);
    return 1;
  }
}

type Progress = (p: { step: string; done: number; total: number; elapsed: number }) => void;

const signed = (value: number) => `${value >= 0 ? '+' : ''}${value.toFixed(4)}`;

const day = (seconds: number) => new Date(seconds * 1000).toISOString().slice(0, 10);

type FederatedRun = Awaited<
  ReturnType<typeof import('../federated/movielens.ts')['runFederatedMovielens']>
>;
type Figures = FederatedRun['report']['static'];

const figuresJson = (h: Figures) => ({
  user_auc: h.userAuc,
  pooled_auc: h.pooledAuc,
  log_loss: h.logLoss,
  ondevice_user_auc: h.ondevice.userAuc,
  ondevice_pooled_auc: h.ondevice.pooledAuc,
});

/** `--federated --json`: every printed figure as one object. */
export function federatedJson({ report, seconds }: FederatedRun, total: number) {
  const run = report.federated.run;
  const o = run.options;
  return {
    fleet_devices: report.fleet.devices,
    fleet_ratings: report.fleet.ratings,
    heldout_users: report.heldOut.qualifying,
    heldout_ratings: report.heldOut.ratings,
    static: figuresJson(report.static),
    central: figuresJson(report.central),
    federated: figuresJson(report.federated),
    ...(report.localDp
      ? {
          local_dp: {
            ...figuresJson(report.localDp),
            local_noise_multiplier: report.localDp.run.options.localNoise,
          },
        }
      : {}),
    share_of_gap: report.shareOfGap,
    bootstrap_se: {
      central_minus_static: report.bootstrap.central.se,
      federated_minus_static: report.bootstrap.federated.se,
    },
    epsilon: Number.isFinite(run.epsilon) ? run.epsilon : null,
    delta: run.delta,
    noise_multiplier: run.noiseMultiplier,
    rounds: run.rounds.length,
    clients_per_round: run.rounds.map((round) => round.clients),
    clip: o.clip,
    server_learning_rate: o.serverLearningRate,
    min_outcomes: o.minOutcomes,
    seed: o.seed,
    seconds: { train: seconds.train, simulate: report.seconds, total },
  };
}

/** `--federated`: the table and the privacy figures, as printed. */
export function federatedText({ report, seconds }: FederatedRun, total: number): string {
  const run = report.federated.run;
  const o = run.options;
  const clients = run.rounds.map((round) => round.clients);
  const row = (name: string, h: Figures) =>
    `${name.padEnd(34)}${f(h.userAuc)}        ${f(h.pooledAuc)}      ${f(h.logLoss)}     ${f(h.ondevice.userAuc)} / ${f(h.ondevice.pooledAuc)}`;
  const finite = Number.isFinite(run.epsilon);
  return [
    `MovieLens federated simulation: ${report.fleet.devices} devices learn on ${report.fleet.ratings} ratings ` +
      `(${day(report.fleet.from)} – ${day(report.fleet.to)}); scored on ${report.heldOut.qualifying} later users ` +
      `held out (>= 20 ratings, both classes; ${report.heldOut.ratings} ratings, none trained on)`,
    `${''.padEnd(34)}per-user AUC  pooled AUC  log loss   learning on: per-user / pooled`,
    row('static server model', report.static),
    row('centrally retrained head', report.central),
    row(`federated head (ε ${finite ? run.epsilon.toFixed(1) : '∞'})`, report.federated),
    ...(report.localDp
      ? [
          row(
            `  + local DP (device noise ${report.localDp.run.options.localNoise.toFixed(2)})`,
            report.localDp,
          ),
        ]
      : []),
    `privacy: ε = ${finite ? run.epsilon.toFixed(2) : '∞ (no noise)'} at δ = ${run.delta.toExponential(0)} ` +
      `(RDP accountant, every round charged to every device), noise multiplier z = ${run.noiseMultiplier.toFixed(3)}`,
    `rounds ${run.rounds.length}, clients per round ${clients.join(', ')} ` +
      `(of ${run.rounds.map((round) => round.active).join(', ')} active), ` +
      `clip ${o.clip}, server learning rate ${o.serverLearningRate}, k = ${o.minOutcomes}, seed ${o.seed}`,
    `the federated head covers ${(100 * report.shareOfGap).toFixed(0)}% of the pooled-AUC gap from static to central (floor: 50% at ε <= 8)`,
    `pooled AUC minus static's, paired bootstrap over the held-out users (mean ± SE): ` +
      `central ${signed(report.bootstrap.central.mean)} ± ${report.bootstrap.central.se.toFixed(4)}, ` +
      `federated ${signed(report.bootstrap.federated.mean)} ± ${report.bootstrap.federated.se.toFixed(4)}`,
    `time: train ${seconds.train.toFixed(1)}s, simulate ${report.seconds.toFixed(1)}s, total ${total.toFixed(1)}s`,
  ].join('\n');
}

async function federatedCommand(
  options: ReplayOptions,
  io: Io,
  onProgress: Progress,
): Promise<number> {
  const { runFederatedMovielens } = await import('../federated/movielens.ts');
  try {
    const started = performance.now();
    const result = await runFederatedMovielens({
      dataDir: options.data,
      epsilon: options.epsilon,
      rounds: options.rounds,
      clip: options.clip,
      seed: options.seed,
      onProgress,
    });
    const total = (performance.now() - started) / 1000;
    io.stdout(
      options.json ? JSON.stringify(federatedJson(result, total)) : federatedText(result, total),
    );
    return 0;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    io.stderr(`localfit: ${isLearnerError(error) ? `${error.code}: ` : ''}${message}`);
    return 1;
  }
}
