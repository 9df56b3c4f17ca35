// Issue 20's floor on the real data (../shared/data/movielens-small, read where it lies): the
// federated head's pooled AUC on the later users, held out, is at least halfway from the
// static server model's to the centrally retrained head's at ε ≤ 8, δ = 1e-5 — with the
// defaults, no tuning for the run. About 20 s, most of it training the version.
import { describe, expect, test } from 'vitest';
import { federatedJson, federatedText } from '../../../models/cli/replay.ts';
import { runFederatedMovielens } from '../../../models/federated/movielens.ts';
import '../replay/support.ts';

describe('federated simulation on MovieLens (real data)', () => {
  test('halfway from static to central at ε = 8', { timeout: 300_000 }, async () => {
    const result = await runFederatedMovielens();
    const { report } = result;
    const run = report.federated.run;
    console.log(
      `federated MovieLens: pooled AUC static ${report.static.pooledAuc.toFixed(4)}, central ${report.central.pooledAuc.toFixed(4)}, ` +
        `federated ${report.federated.pooledAuc.toFixed(4)} (${(100 * report.shareOfGap).toFixed(0)}% of the gap); ` +
        `ε ${run.epsilon.toFixed(2)}, z ${run.noiseMultiplier.toFixed(3)}, rounds ${run.rounds.length}, ` +
        `clients ${run.rounds.map((r) => r.clients).join('/')}`,
    );
    expect(report.heldOut.qualifying).toBeGreaterThanOrEqual(40);
    expect(report.central.pooledAuc).toBeGreaterThan(report.static.pooledAuc);
    expect(run.epsilon).toBeLessThanOrEqual(8);
    expect(run.delta).toBe(1e-5);
    expect(report.shareOfGap).toBeGreaterThanOrEqual(0.5);
    expect(report.federated.userAuc).toBeGreaterThan(report.static.userAuc);

    // What `localfit replay movielens --federated [--json]` prints, from this very run.
    const text = federatedText(result, 1);
    for (const line of [
      /^static server model +0\.\d{4} +0\.\d{4}/m,
      /^centrally retrained head +0\.\d{4} +0\.\d{4}/m,
      /^federated head \(ε 8\.0\) +0\.\d{4} +0\.\d{4}/m,
      /^ {2}\+ local DP/m,
      /ε = 8\.00 at δ = 1e-5 .*noise multiplier z = \d\.\d{3}/,
      /^rounds \d, clients per round \d+(, \d+)* \(of/m,
    ])
      expect(text).toMatch(line);
    const json = federatedJson(result, 1);
    expect(json).toMatchObject({
      epsilon: run.epsilon,
      delta: 1e-5,
      noise_multiplier: run.noiseMultiplier,
      rounds: run.rounds.length,
      clients_per_round: run.rounds.map((r) => r.clients),
    });
    for (const head of [json.static, json.central, json.federated, json.local_dp])
      expect(Object.keys(head ?? {})).toEqual(
        expect.arrayContaining(['user_auc', 'pooled_auc', 'ondevice_pooled_auc']),
      );
    expect(JSON.parse(JSON.stringify(json)).federated.pooled_auc).toBe(report.federated.pooledAuc);
  });
});
