/**
 * `quality.federated` for `npm run bench`: the federated simulation on MovieLens
 * (models/federated/movielens.ts) — static, centrally retrained and federated heads on the
 * later users held out, issue 20's floor, and the federated head's AUC against ε as a plot.
 * Quick mode: one seed per ε, no ε = 0.5 point and no fleet-share table (floors are not judged then); the version is
 * trained once either way (~15 s), each simulation takes well under a second.
 */
import type { Section } from '../../bench/lib/report.ts';
import { lineChart } from '../../bench/lib/svg.ts';
import {
  EPSILON_SERIES,
  type EpsilonPoint,
  epsilonSeries,
  type FederatedReport,
  FLEET_SHARE,
  federatedContext,
  federatedReport,
  runFederatedMovielens,
  SERIES_SEEDS,
} from './movielens.ts';

/** Fleet shares the full run also reports (the default, 0.6, among them). */
const SENSITIVITY_SHARES = [0.5, 0.6, 0.7];

const f = (value: number) => value.toFixed(4);
const eps = (value: number) => (Number.isFinite(value) ? String(value) : '∞');

/** The plot: pooled AUC against ε (log axis), static, central and noise-free as references. */
export function federatedPlot(report: FederatedReport, series: readonly EpsilonPoint[]): string {
  const finite = series.filter((point) => Number.isFinite(point.epsilon));
  const free = series.find((point) => !Number.isFinite(point.epsilon));
  const xs = finite.map((point) => point.epsilon);
  const flat = (value: number) =>
    [
      [Math.min(...xs), value],
      [Math.max(...xs), value],
    ] as const;
  return lineChart({
    title: 'MovieLens: federated head, pooled ROC AUC on held-out later users against ε',
    xLabel: 'ε at δ = 1e-5 (all rounds)',
    yLabel: 'pooled ROC AUC',
    xLog: true,
    xTicks: xs,
    series: [
      { name: 'federated (DP-FedAvg)', points: finite.map((p) => [p.epsilon, p.pooledAuc]) },
      {
        name: 'federated + local DP',
        points: finite.flatMap((p) =>
          p.localDpPooledAuc === undefined ? [] : [[p.epsilon, p.localDpPooledAuc] as const],
        ),
      },
      ...(free ? [{ name: 'no noise (ε = ∞)', points: flat(free.pooledAuc), dashed: true }] : []),
      { name: 'central retrain', points: flat(report.central.pooledAuc), dashed: true },
      { name: 'static server model', points: flat(report.static.pooledAuc), dashed: true },
    ],
  });
}

export async function federatedQuality(quick: boolean): Promise<Section> {
  console.log('\nquality.federated: DP-FedAvg over the later MovieLens users…');
  const started = performance.now();
  const { report, context, version, split, seconds } = await runFederatedMovielens();
  const seeds = quick ? SERIES_SEEDS.slice(0, 1) : SERIES_SEEDS;
  const epsilons = quick ? EPSILON_SERIES.filter((e) => e >= 1) : EPSILON_SERIES;
  const series = epsilonSeries(context, epsilons, {}, seeds);
  // How much the verdict depends on where the fleet ends: other shares of the later users.
  const shares = quick ? [] : SENSITIVITY_SHARES;
  const sensitivity = shares.map((share) => {
    const other =
      share === FLEET_SHARE
        ? report
        : federatedReport(federatedContext(version, split, share), { localDp: false });
    return {
      fleet_share: share,
      fleet_devices: other.fleet.devices,
      heldout_users: other.heldOut.qualifying,
      static_pooled_auc: other.static.pooledAuc,
      central_pooled_auc: other.central.pooledAuc,
      federated_pooled_auc: other.federated.pooledAuc,
      share_of_gap: other.shareOfGap,
      central_se: other.bootstrap.central.se,
      federated_se: other.bootstrap.federated.se,
      rounds: other.federated.run.rounds.length,
    };
  });
  const total = (performance.now() - started) / 1000;
  const run = report.federated.run;
  const clients = run.rounds.map((round) => round.clients);
  const local = report.localDp;
  const figures = (h: FederatedReport['static']) => ({
    user_auc: h.userAuc,
    pooled_auc: h.pooledAuc,
    log_loss: h.logLoss,
    ondevice_user_auc: h.ondevice.userAuc,
    ondevice_pooled_auc: h.ondevice.pooledAuc,
  });
  const results = {
    fleet_devices: report.fleet.devices,
    fleet_ratings: report.fleet.ratings,
    heldout_users: report.heldOut.qualifying,
    heldout_ratings: report.heldOut.ratings,
    static: figures(report.static),
    central: figures(report.central),
    federated: figures(report.federated),
    ...(local
      ? { local_dp: { ...figures(local), local_noise_multiplier: local.run.options.localNoise } }
      : {}),
    share_of_gap: report.shareOfGap,
    bootstrap: report.bootstrap,
    epsilon: run.epsilon,
    delta: run.delta,
    noise_multiplier: run.noiseMultiplier,
    rounds: run.rounds.length,
    clients_per_round: clients,
    clip: run.options.clip,
    server_learning_rate: run.options.serverLearningRate,
    min_outcomes: run.options.minOutcomes,
    // Plot-ready: pooled AUC against ε (null for ∞ in JSON), mean over the seeds.
    series: series.map((p) => ({ ...p, epsilon: Number.isFinite(p.epsilon) ? p.epsilon : null })),
    series_seeds: seeds,
    fleet_share_sensitivity: sensitivity,
    train_seconds: seconds.train,
    seconds: total,
  };
  const row = (name: string, h: FederatedReport['static']) =>
    `| ${name} | ${f(h.userAuc)} | ${f(h.pooledAuc)} | ${f(h.logLoss)} | ${f(h.ondevice.userAuc)} / ${f(h.ondevice.pooledAuc)} |`;
  console.log(
    `  pooled AUC static ${f(report.static.pooledAuc)}, central ${f(report.central.pooledAuc)}, ` +
      `federated ${f(report.federated.pooledAuc)} at ε ${run.epsilon.toFixed(2)} ` +
      `(z ${run.noiseMultiplier.toFixed(3)}, ${run.rounds.length} rounds, clients ${clients.join('/')}); ${total.toFixed(1)} s`,
  );
  return {
    key: 'quality.federated',
    title: 'Quality: federated head (DP-FedAvg) on MovieLens',
    results,
    headline: `Federated head at ε ${run.epsilon.toFixed(1)}: pooled AUC ${f(report.federated.pooledAuc)} on held-out later users (static ${f(report.static.pooledAuc)}, central retrain ${f(report.central.pooledAuc)})`,
    floors: [
      {
        name: 'federated pooled AUC ≥ halfway from static to central at ε ≤ 8 (δ 1e-5)',
        pass: run.epsilon <= 8 && report.shareOfGap >= 0.5,
        measured: `${(100 * report.shareOfGap).toFixed(0)}% of the gap at ε ${run.epsilon.toFixed(2)}`,
      },
    ],
    markdown: [
      `The replay's version (earliest 80 % of ratings). The later users, by first rating: the`,
      `earlier ${report.fleet.devices} are the fleet, each a device with the library's default head, learning`,
      `on its ${report.fleet.ratings} ratings until the first held-out user arrives; the other`,
      `${report.heldOut.users} are held out (${report.heldOut.qualifying} with ≥ 20 ratings and both classes count), no head trains on them.`,
      `Rounds are chronological slices; a device that learned ≥ ${run.options.minOutcomes} ratings since it adopted the`,
      `round's base sends its delta clipped to ${run.options.clip}; the server averages with Gaussian noise (z = ${run.noiseMultiplier.toFixed(3)}),`,
      `the RDP accountant charges every round to every device. models/federated/.`,
      '',
      '| head | per-user AUC | pooled AUC | log loss | learning on: per-user / pooled |',
      '| --- | --- | --- | --- | --- |',
      row('static server model', report.static),
      row('centrally retrained head (history + fleet ratings)', report.central),
      row(`federated, ε ${run.epsilon.toFixed(2)}`, report.federated),
      ...(local
        ? [
            row(
              `federated + local DP (device noise ${local.run.options.localNoise.toFixed(2)})`,
              local,
            ),
          ]
        : []),
      '',
      `ε ${run.epsilon.toFixed(2)} at δ = 1e-5; noise multiplier ${run.noiseMultiplier.toFixed(3)}; ${run.rounds.length} rounds; ` +
        `clients per round ${clients.join(', ')} (of ${run.rounds.map((r) => r.active).join(', ')} active).`,
      `The federated head covers ${(100 * report.shareOfGap).toFixed(0)} % of the static → central gap in pooled AUC. ` +
        `Paired bootstrap over held-out users: central − static ${f(report.bootstrap.central.mean)} ± ${f(report.bootstrap.central.se)}, ` +
        `federated − static ${f(report.bootstrap.federated.mean)} ± ${f(report.bootstrap.federated.se)} (SE).`,
      '',
      `| ε | z | pooled AUC (mean of ${seeds.length} seed${seeds.length > 1 ? 's' : ''}; range) | per-user AUC | + local DP, pooled |`,
      '| --- | --- | --- | --- | --- |',
      ...series.map(
        (p) =>
          `| ${eps(p.epsilon)} | ${p.noiseMultiplier.toFixed(3)} | ${f(p.pooledAuc)} (${f(p.pooledAucMin)} – ${f(p.pooledAucMax)}) | ${f(p.userAuc)} | ${p.localDpPooledAuc === undefined ? '—' : f(p.localDpPooledAuc)} |`,
      ),
      '',
      '![Federated AUC against ε](plots/federated_epsilon.svg)',
      '',
      ...(sensitivity.length
        ? [
            'Where the fleet ends (share of the later users that are devices; ε 8, seed 1; ± paired-bootstrap SE of the gain over static):',
            '',
            '| fleet share | devices | held-out users | rounds | static | central | federated | share of the gap |',
            '| --- | --- | --- | --- | --- | --- | --- | --- |',
            ...sensitivity.map(
              (s) =>
                `| ${s.fleet_share} | ${s.fleet_devices} | ${s.heldout_users} | ${s.rounds} | ${f(s.static_pooled_auc)} | ${f(s.central_pooled_auc)} (± ${f(s.central_se)}) | ${f(s.federated_pooled_auc)} (± ${f(s.federated_se)}) | ${(100 * s.share_of_gap).toFixed(0)} % |`,
            ),
            '',
            'The gap itself is a few thousandths of pooled AUC, within about two standard errors of the federated gain: the floor is a weak test on this data either way.',
            '',
          ]
        : []),
      `Training ${seconds.train.toFixed(1)} s, all simulations ${(total - seconds.train).toFixed(1)} s.`,
    ].join('\n'),
    plots: [{ file: 'federated_epsilon.svg', svg: federatedPlot(report, series) }],
  };
}
