// Issue 20's floor on the real data (../shared/data/movielens-small, read where it lies): the
// federated head's pooled AUC on the later users, held out, is at least halfway from the
// static server model's to the centrally retrained head's at ε ≤ 8, δ = 1e-5 — with the
// defaults, no tuning for the run. About 20 s, most of it training the version.
import { describe, expect, test } from 'vitest';
import { runFederatedMovielens } from '../../../models/federated/movielens.ts';
import '../replay/support.ts';

describe('federated simulation on MovieLens (real data)', () => {
  test('halfway from static to central at ε = 8', { timeout: 300_000 }, async () => {
    const { report } = await runFederatedMovielens();
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
  });
});
