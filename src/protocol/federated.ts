/**
 * Federated rounds in the sync protocol v1 (additive): how the server announces a round in the
 * signed manifest and what a device sends as its one contribution to it. Like the rest of the
 * protocol's wire types this file has no imports and no runtime dependencies, so the device,
 * the reference server and the simulation share it.
 *
 * A round: the server opens it for a base version (`ManifestVersion.id`). A device that serves
 * the base version, may contribute under the rollout evidence rules (it is in the base's arm and
 * registered before the round opened) and has learned at least `minOutcomes` outcomes since it
 * adopted the base sends exactly one {@link ContributionRequest}: its head minus the base head
 * (src/federated/contribution.ts), clipped to L2 norm `clip`. The server averages the round's
 * contributions, adds Gaussian noise of standard deviation `noiseMultiplier · clip / n`
 * (DP-FedAvg, McMahan et al. 2018) and stages the result as a new version.
 *
 * | route | auth | request | reply |
 * | --- | --- | --- | --- |
 * | `POST /v1/federated/contributions` | `Authorization: Bearer <device token>` | {@link ContributionRequest} | 201 (or 200 on a replay) {@link ContributionResponse} |
 *
 * Every refusal is the protocol's error body (`ErrorBody`) with a code from
 * {@link FederatedErrorCode}; all of them are final for that contribution (record and drop it),
 * except the protocol's own retryable codes (RATE_LIMITED, UNAVAILABLE, INTERNAL).
 */

/** The manifest's additive field: rounds open now (absent or empty: none). */
export const MANIFEST_ROUNDS_FIELD = 'federated';

/** Path of the contribution route. */
export const CONTRIBUTIONS_PATH = '/v1/federated/contributions';

/** A contribution may exceed `clip` by this relative margin (float rounding), no more. */
export const CLIP_TOLERANCE = 1e-6;

/** At most this many numbers in a delta (weights plus intercepts). */
export const MAX_DELTA_LENGTH = 1_000_000;

/** What the manifest says about an open round, in `Manifest.federated` (an array). */
export interface RoundAnnouncement {
  /** Server-made id, `r1`, `r2`, …: what the contribution names. */
  roundId: string;
  /** The version every contribution must be a delta from. */
  baseVersionId: string;
  /** L2 norm every contribution must be clipped to (the sensitivity of the round). */
  clip: number;
  /**
   * The probability with which an eligible install takes part ({@link takesPart}); 1: every
   * one does. What the accountant's sampling rate q is.
   */
  samplingRate: number;
  /** Outcomes an install must have learned on the base since adopting it. */
  minOutcomes: number;
  /** No contribution is accepted after this instant (ISO 8601, UTC). */
  deadline: string;
}

/** The manifest, as far as rounds go (the field is optional: older servers leave it out). */
export interface ManifestRounds {
  federated?: RoundAnnouncement[];
}

/**
 * `POST /v1/federated/contributions`. Exactly once per install and round: a retry of the same
 * body gets the same answer (200) and stores nothing new; any other body for a round the
 * install already contributed to is refused (409 DUPLICATE_CONTRIBUTION).
 */
export interface ContributionRequest {
  roundId: string;
  /** Must be the round's `baseVersionId` (else 409 BASE_MISMATCH). */
  baseVersionId: string;
  /** Outcomes learned on the base (≥ the round's `minOutcomes`, else 422 TOO_FEW_OUTCOMES). */
  outcomes: number;
  /**
   * The clipped delta: the head's weights minus the base head's (row-major, outputs × dim),
   * then the intercepts' differences. Its L2 norm must be ≤ clip·(1 + {@link CLIP_TOLERANCE})
   * (else 422 CLIP_EXCEEDED); its length must be the base head's (else 422 SHAPE_MISMATCH).
   */
  delta: { weights: number[]; intercepts: number[] };
  /** Device-side Gaussian noise already added (local DP), as a multiple of `clip`; 0 or absent: none. */
  localNoise?: number;
}

export interface ContributionResponse {
  roundId: string;
  /** Contributions the round holds now, this one included. */
  contributions: number;
  /** True when this answer is a replay of the one already given. */
  replayed: boolean;
}

/** Stable codes of the refusals this route adds to the protocol's `SyncErrorCode`. */
export type FederatedErrorCode =
  /** 404: no round with this id. */
  | 'ROUND_NOT_FOUND'
  /** 409: the round is closed (aggregated, cancelled or ended). */
  | 'ROUND_CLOSED'
  /** 409: the round's deadline has passed. */
  | 'ROUND_EXPIRED'
  /** 409: the delta is from a version other than the round's base. */
  | 'BASE_MISMATCH'
  /** 409: this install already contributed a different body to this round. */
  | 'DUPLICATE_CONTRIBUTION'
  /** 422: the delta's L2 norm is larger than the round's clip. */
  | 'CLIP_EXCEEDED'
  /** 422: the delta's length is not the base head's. */
  | 'SHAPE_MISMATCH'
  /** 422: fewer outcomes learned on the base than the round asks for. */
  | 'TOO_FEW_OUTCOMES'
  /** 403: the install may not contribute (not in the base's arm, or registered after the round opened, or not sampled). */
  | 'NOT_ELIGIBLE'
  /** 409: admin: aggregating would exceed the privacy budget (ε, δ). */
  | 'BUDGET_EXCEEDED'
  /** 409: admin: fewer contributions than the round's minimum. */
  | 'TOO_FEW_CONTRIBUTIONS'
  /** 409: admin: another round is open for the same base version. */
  | 'ROUND_OPEN'
  /** 422: admin: the base version has no head (devices start it fresh): nothing to add a delta to. */
  | 'NO_BASE_HEAD';

/**
 * Whether an install takes part in a round at sampling rate q: h / 2³² < q, where h is the 32-bit
 * FNV-1a hash of `roundId NUL installId` passed through MurmurHash3's finaliser (fmix32, so
 * that ids differing in one character spread over the whole range). Independent across rounds (the round id is in the
 * hash), the same answer on device and server. A device not sampled does not contribute.
 */
export function takesPart(roundId: string, installId: string, samplingRate: number): boolean {
  if (samplingRate >= 1) return true;
  let hash = 0x811c9dc5;
  const text = `${roundId}\u0000${installId}`;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b) >>> 0;
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35) >>> 0;
  hash = (hash ^ (hash >>> 16)) >>> 0;
  return hash / 2 ** 32 < samplingRate;
}
