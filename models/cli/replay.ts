/**
 * `localfit replay movielens [--data DIR] [--json] [--save DIR] [--quiet]`: the MovieLens
 * replay (see models/movielens/run.ts). The earliest 80% of the ratings by time are the
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
  -h, --help    show this help`;

interface ReplayOptions {
  dataset: 'movielens';
  data?: string;
  save?: string;
  json: boolean;
  quiet: boolean;
}

class UsageError extends Error {}

export function parseReplayArgs(argv: readonly string[]): ReplayOptions | 'help' {
  if (argv.includes('-h') || argv.includes('--help')) return 'help';
  const [dataset, ...rest] = argv;
  if (dataset !== 'movielens')
    throw new UsageError(
      dataset === undefined ? 'missing data set' : `unknown data set '${dataset}'`,
    );
  const options: ReplayOptions = { dataset, json: false, quiet: false };
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
    else throw new UsageError(`unknown option '${flag}'`);
  }
  return options;
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
  const { runMovielensReplay } = await import('../movielens/run.ts');
  let lastStep = '';
  let lastShown = 0;
  const quiet = options.quiet;
  try {
    const run = await runMovielensReplay({
      dataDir: options.data,
      saveDir: options.save,
      onProgress: (p) => {
        if (quiet) return;
        const now = performance.now();
        if (p.step === lastStep && p.done < p.total && now - lastShown < 2000) return;
        lastStep = p.step;
        lastShown = now;
        io.stderr(`[${p.elapsed.toFixed(1)}s] ${p.step} ${p.done}/${p.total}`);
      },
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
