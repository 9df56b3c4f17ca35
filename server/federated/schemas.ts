/**
 * The shapes of federated bodies as checks: the device's contribution (unknown fields
 * ignored, as on every device route) and the admin's round actions (strict). Shared by the
 * HTTP routes and the CLI's direct mode.
 */
import type { CloseRoundRequest, OpenRoundRequest } from '../../src/protocol/admin.ts';
import { type ContributionRequest, MAX_DELTA_LENGTH } from '../../src/protocol/index.ts';
import { versionId } from '../schemas.ts';
import { boolean, type Check, invalid, number, object, optional, string } from '../validate.ts';

export const roundId: Check<string> = string({
  min: 1,
  max: 64,
  pattern: /^[A-Za-z0-9._:-]+$/,
  patternName: '1–64 characters of A-Z a-z 0-9 . _ : -',
});

/** A delta's numbers: checked in one loop (up to a million of them, so no per-item closures). */
const floats: Check<number[]> = (value, path) => {
  if (!Array.isArray(value)) invalid(path, 'must be an array of numbers');
  if (value.length > MAX_DELTA_LENGTH)
    invalid(path, `must have at most ${MAX_DELTA_LENGTH} numbers`);
  const out = new Array<number>(value.length);
  for (let i = 0; i < value.length; i++) {
    const x = value[i];
    if (typeof x !== 'number' || !Number.isFinite(x) || Math.abs(x) > 1e9)
      invalid(`${path}[${i}]`, 'must be a finite number of magnitude at most 1e9');
    out[i] = x;
  }
  return out;
};

/** Device bodies ignore unknown fields (a newer device may talk to an older server). */
export const contributionRequest: Check<ContributionRequest> = object<ContributionRequest>({
  roundId,
  baseVersionId: versionId,
  outcomes: number({ min: 0, max: 1e12, integer: true }),
  delta: object<ContributionRequest['delta']>({ weights: floats, intercepts: floats }),
  localNoise: optional(number({ min: 0, max: 1e3 })),
});

const intentShape = {
  actor: optional(string({ min: 1, max: 100 })),
  why: optional(string({ max: 1000, controls: 'whitespace' })),
};

export const openRoundRequest: Check<OpenRoundRequest> = object<OpenRoundRequest>(
  {
    ...intentShape,
    baseVersionId: versionId,
    clip: number({ min: 1e-9, max: 1e9 }),
    minClients: number({ min: 1, max: 1e9, integer: true }),
    minOutcomes: optional(number({ min: 0, max: 1e12, integer: true })),
    samplingRate: optional(number({ min: 1e-9, max: 1 })),
    noiseMultiplier: optional(number({ min: 0, max: 1e6 })),
    deadline: optional(string({ max: 40 })),
    durationSeconds: optional(number({ min: 1, max: 10 * 365 * 86_400 })),
  },
  { strict: true },
);

export const closeRoundRequest: Check<CloseRoundRequest> = object<CloseRoundRequest>(
  { ...intentShape, cancel: optional(boolean()) },
  { strict: true },
);
