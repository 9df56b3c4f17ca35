/**
 * `quality.movielens` for `npm run bench`: the MovieLens replay's figures and the issue's
 * floors. bench/run.ts adds it with `sections.push(await movielensQuality(quick))`.
 * Quick mode replays the first 30 qualifying users only (floors are not judged then).
 */
import type { Section } from '../../bench/lib/report.ts';
import { crossFittedUserAuc } from '../train/ceiling.ts';
import { embedCatalog } from '../train/hybrid.ts';
import type { UserTrace } from '../train/metrics.ts';
import { qualifyingTraces, rocAuc } from '../train/metrics.ts';
import { runMovielensReplay } from './run.ts';

function perUserAuc(traces: readonly UserTrace[]): { static: number[]; ondevice: number[] } {
  const kept = qualifyingTraces(traces);
  return {
    static: kept.map((trace) => rocAuc(trace.static, trace.labels)),
    ondevice: kept.map((trace) => rocAuc(trace.ondevice, trace.labels)),
  };
}

export async function movielensQuality(quick: boolean): Promise<Section> {
  console.log('\nquality.movielens: train on the earliest 80% of ratings, replay the rest…');
  // The forgetting guard with its defaults, as the learner runs it.
  const run = await runMovielensReplay({ ...(quick ? { maxUsers: 30 } : {}), guard: {} });
  const s = run.summary;
  const f = (value: number) => value.toFixed(4);
  // How far a per-user linear head on this backbone can go (models/train/ceiling.ts), to read
  // the lift by.
  const ceilingStart = performance.now();
  const qualifying = new Set(qualifyingTraces(run.traces).map((trace) => trace.user));
  const ceiling = crossFittedUserAuc(
    run.version.head,
    embedCatalog(run.version.params, run.version.spec, run.catalog.features),
    run.sequences.filter((sequence) => qualifying.has(sequence.user)),
  );
  const ceilingSeconds = (performance.now() - ceilingStart) / 1000;
  const results = {
    users: s.users,
    ratings: s.interactions,
    static_user_auc: s.static_user_auc,
    ondevice_user_auc: s.ondevice_user_auc,
    static_pooled_auc: s.static_pooled_auc,
    ondevice_pooled_auc: s.ondevice_pooled_auc,
    static_log_loss: s.static_log_loss,
    ondevice_log_loss: s.ondevice_log_loss,
    guarded_user_auc: s.guarded_user_auc,
    ceiling_user_auc: ceiling.userAuc,
    ceiling_setting: ceiling.setting,
    ceiling_seconds: ceilingSeconds,
    // One AUC per qualifying user, for the distribution plot (bench/movielens_plot.ts).
    per_user_auc: perUserAuc(run.traces),
    guarded_log_loss: s.guarded_log_loss,
    train_seconds: run.seconds.train,
    replay_seconds: run.seconds.replay,
    model_bytes: run.version.bytes.length,
    scales: Object.fromEntries(run.version.groups.map((g) => [g.name, g.scale])),
  };
  console.log(
    `  ${s.users} users: per-user AUC ${f(s.static_user_auc)} → ${f(s.ondevice_user_auc)}, ` +
      `pooled ${f(s.static_pooled_auc)} → ${f(s.ondevice_pooled_auc)}, ` +
      `cross-fitted per-user ceiling ${f(ceiling.userAuc)} ` +
      `(train ${run.seconds.train.toFixed(1)} s, replay ${run.seconds.replay.toFixed(1)} s)`,
  );
  return {
    key: 'quality.movielens',
    title: 'Quality: MovieLens replay (static server model vs. on-device head)',
    results,
    floors: [
      {
        name: 'movielens ondevice_user_auc ≥ static_user_auc + 0.03',
        pass: s.ondevice_user_auc >= s.static_user_auc + 0.03,
        measured: `${f(s.ondevice_user_auc)} vs ${f(s.static_user_auc)}`,
      },
      {
        name: 'movielens ondevice_pooled_auc ≥ 0.83',
        pass: s.ondevice_pooled_auc >= 0.83,
        measured: f(s.ondevice_pooled_auc),
      },
      {
        name: 'forgetting guard lowers per-user AUC by ≤ 0.005',
        pass: s.ondevice_user_auc - (s.guarded_user_auc ?? Number.NEGATIVE_INFINITY) <= 0.005,
        measured: `${f(s.guarded_user_auc ?? Number.NaN)} with vs ${f(s.ondevice_user_auc)} without`,
      },
      {
        name: 'movielens retrain < 60 s',
        pass: run.seconds.train < 60,
        measured: `${run.seconds.train.toFixed(1)} s`,
      },
    ],
    markdown: [
      'ml-latest-small, split by time: the earliest 80 % of ratings train the version (ALS',
      'factors + item MLP backbone, global head), every later user is replayed through a fresh',
      "device pipeline (predict, then learn, each rating; the library's default head).",
      'Users with ≥ 20 replayed ratings and both classes; like = rating ≥ 4.',
      '',
      '| | per-user ROC AUC | pooled ROC AUC | log loss |',
      '| --- | --- | --- | --- |',
      `| static server model | ${f(s.static_user_auc)} | ${f(s.static_pooled_auc)} | ${f(s.static_log_loss)} |`,
      `| on-device head | ${f(s.ondevice_user_auc)} | ${f(s.ondevice_pooled_auc)} | ${f(s.ondevice_log_loss)} |`,
      `| on-device head + forgetting guard | ${f(s.guarded_user_auc ?? Number.NaN)} | — | ${f(s.guarded_log_loss ?? Number.NaN)} |`,
      `| per-user linear head, cross-fitted (a bound, not a replay) | ${f(ceiling.userAuc)} | — | — |`,
      '',
      'The last row is what any per-user linear head on this embedding reaches when it may train',
      "on 80 % of its user's own ratings, past and future, many times (5 interleaved folds,",
      `constant-step SGD seeded from the server head, η ${ceiling.setting.eta0} × ${ceiling.setting.epochs} epochs;`,
      "models/train/ceiling.ts). Learning the user's taste better (another optimizer, learning",
      'rate or mixture) cannot lift per-user AUC much beyond it; more must come from the backbone',
      'or from other inputs.',
      '',
      `${s.users} users, ${s.interactions} ratings; training ${run.seconds.train.toFixed(1)} s, ` +
        `replay ${run.seconds.replay.toFixed(1)} s; model ${run.version.bytes.length} bytes.`,
    ].join('\n'),
  };
}
