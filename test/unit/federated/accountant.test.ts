/**
 * The RDP accountant against published reference values. Each expectation names where its value
 * comes from; agreement is asked to 2 significant digits at least (most agree to 5 or more).
 */
import { describe, expect, test } from 'vitest';
import {
  AccountantError,
  computeRdp,
  epsilonFromRdp,
  epsilonOf,
  noiseMultiplierFor,
  RdpAccountant,
  sampledGaussianRdp,
} from '../../../src/federated/accountant.ts';

/** |a − b| within half a unit of the second significant digit of b. */
function twoDigits(actual: number, reference: number): void {
  const unit = 10 ** (Math.floor(Math.log10(Math.abs(reference))) - 1);
  expect(Math.abs(actual - reference)).toBeLessThanOrEqual(unit / 2);
}

describe('RDP of the sampled Gaussian mechanism', () => {
  test('q = 1 is the plain Gaussian mechanism, α / (2 z²)', () => {
    // TensorFlow Privacy, rdp_accountant_test.py, test_compute_rdp_no_sampling: q=1, z=10, 1
    // step, α=20 → 0.1.
    expect(computeRdp({ samplingRate: 1, noiseMultiplier: 10, steps: 1 }, [20])[0]).toBeCloseTo(
      0.1,
      12,
    );
    expect(sampledGaussianRdp(1, 2, 7)).toBeCloseTo(7 / 8, 12);
  });

  test('q = 0 spends nothing; z = 0 with data spends everything', () => {
    expect(sampledGaussianRdp(0, 1, 5)).toBe(0);
    expect(sampledGaussianRdp(0.5, 0, 5)).toBe(Number.POSITIVE_INFINITY);
  });

  test('integer orders match TensorFlow Privacy test values', () => {
    // TensorFlow Privacy, rdp_accountant_test.py, test_compute_rdp_scalar: q=0.1, z=2, 10
    // steps, α=5 → 0.07737.
    twoDigits(computeRdp({ samplingRate: 0.1, noiseMultiplier: 2, steps: 10 }, [5])[0], 0.07737);
    expect(computeRdp({ samplingRate: 0.1, noiseMultiplier: 2, steps: 10 }, [5])[0]).toBeCloseTo(
      0.07737,
      5,
    );
    // test_compute_rdp_sequence: q=0.01, z=2.5, 50 steps at α = 5, 50, 100 → 0.00218075,
    // 0.023846, 167.416307 (to 1e-5).
    const rdp = computeRdp({ samplingRate: 0.01, noiseMultiplier: 2.5, steps: 50 }, [5, 50, 100]);
    expect(rdp[0]).toBeCloseTo(0.00218075, 5);
    expect(rdp[1]).toBeCloseTo(0.023846, 5);
    expect(rdp[2]).toBeCloseTo(167.416307, 4);
  });

  test('large orders do not overflow', () => {
    const value = sampledGaussianRdp(0.5, 0.5, 512);
    expect(Number.isFinite(value)).toBe(true);
    expect(value).toBeGreaterThan(100);
  });
});

describe('(ε, δ)', () => {
  test('Abadi et al. 2016 and TensorFlow Privacy: q=0.01, z=4, 10,000 steps, δ=1e-5 → ε 1.26', () => {
    // Abadi et al. 2016, "Deep Learning with Differential Privacy" (CCS), §3.1: with q = 0.01,
    // σ = 4, δ = 1e-5 and T = 10000 the moments accountant gives ε ≈ 1.26. TensorFlow Privacy,
    // rdp_accountant_test.py, test_get_privacy_spent_check_target_delta: orders 2..32, same
    // parameters → 1.258575 at order 20 (the classic conversion).
    const orders = Array.from({ length: 31 }, (_, i) => i + 2);
    const rdp = computeRdp({ samplingRate: 0.01, noiseMultiplier: 4, steps: 10_000 }, orders);
    const spent = epsilonFromRdp(orders, rdp, 1e-5, 'classic');
    expect(spent.epsilon).toBeCloseTo(1.258575, 5);
    expect(spent.order).toBe(20);
    twoDigits(spent.epsilon, 1.26);
  });

  test('Opacus: q=0.04, z=1.5, 2,250 steps, δ=1e-5 → ε 7.33', () => {
    // Opacus, opacus/tests/accountants_test.py, test_rdp_accountant: noise 1.5, sample rate
    // 0.04, int(90 / 0.04) steps, δ = 1e-5 → 7.32911117143 (the improved conversion, over
    // Opacus's orders, which include fractional ones; the integer orders give 7.3299).
    const accountant = new RdpAccountant();
    for (let i = 0; i < 2250; i++) accountant.compose({ samplingRate: 0.04, noiseMultiplier: 1.5 });
    const spent = accountant.epsilon(1e-5);
    twoDigits(spent.epsilon, 7.32911117143);
    expect(Math.abs(spent.epsilon - 7.32911117143)).toBeLessThan(0.002);
    // The classic conversion is looser on the same RDP.
    expect(accountant.epsilon(1e-5, 'classic').epsilon).toBeGreaterThan(spent.epsilon);
  });

  test('composition adds: two halves equal the whole', () => {
    const whole = new RdpAccountant().compose({
      samplingRate: 0.2,
      noiseMultiplier: 1.1,
      steps: 40,
    });
    const halves = new RdpAccountant()
      .compose({ samplingRate: 0.2, noiseMultiplier: 1.1, steps: 20 })
      .compose({ samplingRate: 0.2, noiseMultiplier: 1.1, steps: 20 });
    expect(halves.epsilon(1e-5).epsilon).toBeCloseTo(whole.epsilon(1e-5).epsilon, 10);
    const before = halves.spent();
    expect(halves.epsilonAfter({ samplingRate: 1, noiseMultiplier: 1 }, 1e-5)).toBeGreaterThan(
      halves.epsilon(1e-5).epsilon,
    );
    expect(halves.spent()).toEqual(before);
  });

  test('more noise, fewer rounds or a lower sampling rate spend less', () => {
    const base = { samplingRate: 0.5, noiseMultiplier: 1, steps: 10 };
    const e = epsilonOf(base, 1e-5);
    expect(epsilonOf({ ...base, noiseMultiplier: 2 }, 1e-5)).toBeLessThan(e);
    expect(epsilonOf({ ...base, steps: 5 }, 1e-5)).toBeLessThan(e);
    expect(epsilonOf({ ...base, samplingRate: 0.1 }, 1e-5)).toBeLessThan(e);
  });

  test('noiseMultiplierFor inverts epsilonOf', () => {
    const rounds = { samplingRate: 1, steps: 8 };
    const z = noiseMultiplierFor({ epsilon: 8, delta: 1e-5 }, rounds);
    expect(epsilonOf({ ...rounds, noiseMultiplier: z }, 1e-5)).toBeLessThanOrEqual(8);
    expect(epsilonOf({ ...rounds, noiseMultiplier: z * 0.99 }, 1e-5)).toBeGreaterThan(8);
  });

  test('bad parameters throw with a stable code', () => {
    expect(() => sampledGaussianRdp(1.5, 1, 2)).toThrow(AccountantError);
    expect(() => sampledGaussianRdp(0.5, 1, 2.5)).toThrow(/integers/);
    expect(() => new RdpAccountant().epsilon(0)).toThrow(AccountantError);
    try {
      new RdpAccountant([1]);
    } catch (error) {
      expect((error as AccountantError).code).toBe('BAD_PRIVACY_PARAMETER');
    }
  });
});
