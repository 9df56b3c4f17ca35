/**
 * Federated rounds on the server (issue 20): an admin opens a round for a live base version,
 * devices send one clipped head delta each (`POST /v1/federated/contributions`), and the
 * round ends in one of three ways — aggregated into a new staged version, expired at its
 * deadline without one, or closed (cancelled) by an admin. The arithmetic is the library's
 * pure modules (src/federated/: DP-FedAvg, the RDP accountant); this module is the state
 * around it, in the database, with the same discipline as store/versions.ts: every round
 * action takes the manifest lock, writes its audit entry and bumps the revision (open rounds
 * are in the signed manifest) in one commit, and a refused action changes nothing.
 *
 * Exactly once. `federated_contributions` has one row per (round, install). A contribution
 * first looks for the install's row: the same body (its canonical JSON's sha256) is answered
 * again (200, `replayed`) whatever the round's state now — the device may have lost the first
 * answer — and a different body is refused (409 DUPLICATE_CONTRIBUTION). Contributions lock
 * their round's row (`for update`), so they are serialised with each other (the count is
 * exact) and with aggregation (nothing lands in a round after its average was taken).
 *
 * Who may contribute (NOT_ELIGIBLE), following the rollout's evidence rules
 * (server/rollout/epochs.ts): the install was registered before the round opened (ids cannot
 * be made to order), takes part at the round's sampling rate (`takesPart`, the devices' own
 * function), and served the base in some rollout epoch since the round opened: its bucket —
 * sha256 of install id and rollout id, src/rollout/arm.ts — lay in the base's staged range,
 * or, for a production base, in no staged range.
 *
 * Privacy accounting. Every aggregated round is one sampled Gaussian mechanism with noise
 * multiplier z and sampling rate q, composed in RDP (src/federated/accountant.ts) over all the
 * server's aggregated rounds (one population of installs, so one budget), and read at the
 * budget's δ with the improved conversion. A round that would take ε past the budget is
 * refused (409 BUDGET_EXCEEDED) at open and again at aggregation (other rounds may have spent
 * meanwhile). q is the round's announced sampling rate, 1 unless the admin asks for less —
 * not the share of eligible installs that happened to contribute: that share depends on the
 * installs' data (who learned k outcomes), so it is no sampling probability, and amplification
 * by sampling holds only for sampling independent of the data. q < 1 is further only as good
 * as the sample's secrecy: `takesPart` hashes the round and install ids, so an observer who
 * knows a target's install id knows whether it took part; operators who cannot keep install
 * ids from the model's audience should leave q = 1 (no amplification claimed).
 *
 * Aggregation: the mean of the re-clipped deltas plus N(0, σ²), σ = z·clip/n, added to the
 * base head (learning rate 1), published on the base's model and feature spec as a staged
 * version at `stagedWeight` (0.1) with the round's ε, δ and id in its metadata, in the same
 * transaction as the round's end, so a round either made exactly one version or none. From
 * there the rollout policy treats it like any other staged version.
 */
import { noiseMultiplierFor, RdpAccountant } from '../../src/federated/accountant.ts';
import { aggregate, applyDelta } from '../../src/federated/aggregate.ts';
import {
  cryptoRandom,
  deltaNorm,
  linearHead,
  type Random,
} from '../../src/federated/contribution.ts';
import { type HeadJson, headFromJson, headToJson } from '../../src/learn/head_json.ts';
import type {
  AdminRound,
  CloseRoundRequest,
  FederatedStatus,
  OpenRoundRequest,
  PrivacyBudget,
  RoundStatus,
} from '../../src/protocol/admin.ts';
import { canonicalJson } from '../../src/protocol/canonical_json.ts';
import {
  CLIP_TOLERANCE,
  CodedError,
  type ContributionRequest,
  type ContributionResponse,
  type RoundAnnouncement,
  takesPart,
} from '../../src/protocol/index.ts';
import { rolloutBucket } from '../../src/rollout/arm.ts';
import type { Database, Queryable } from '../db/database.ts';
import { ApiError } from '../http/errors.ts';
import { recordAudit } from '../store/audit.ts';
import { bumpRevision, lockManifest, publishVersionIn } from '../store/versions.ts';
import { sha256Hex } from '../tokens.ts';

export const DEFAULT_BUDGET: PrivacyBudget = Object.freeze({ epsilon: 8, delta: 1e-5 });
/** A round opened without a noise multiplier gets one that lets this many such rounds fit. */
export const DEFAULT_PLANNED_ROUNDS = 10;
/** The seeds' rule for a new version: staged at this weight. */
export const DEFAULT_STAGED_WEIGHT = 0.1;
const DEFAULT_DURATION_SECONDS = 86_400;

export interface FederatedOptions {
  /** The (ε, δ) every aggregated round together may spend. Default ε = 8, δ = 1e-5. */
  budget?: Partial<PrivacyBudget>;
  /** Uniforms for the noise. Default WebCrypto; inject a seeded one in tests only. */
  random?: Random;
  /** The clock deadlines are read against (ms since 1970). Default Date.now. */
  now?: () => number;
  /** Weight of the version a round makes. Default 0.1. */
  stagedWeight?: number;
}

export interface FederatedConfig {
  budget: PrivacyBudget;
  random: Random;
  now: () => number;
  stagedWeight: number;
}

export class FederatedConfigError extends CodedError<'BAD_FEDERATED_CONFIG'> {
  override readonly name = 'FederatedConfigError';
  constructor(message: string) {
    super('BAD_FEDERATED_CONFIG', message);
  }
}

export function resolveFederated(options: FederatedOptions = {}): FederatedConfig {
  const budget = { ...DEFAULT_BUDGET, ...options.budget };
  if (!(budget.epsilon > 0 && Number.isFinite(budget.epsilon)))
    throw new FederatedConfigError(`the privacy budget ε must be > 0, got ${budget.epsilon}`);
  if (!(budget.delta > 0 && budget.delta < 1))
    throw new FederatedConfigError(`the privacy budget δ must lie in (0, 1), got ${budget.delta}`);
  const stagedWeight = options.stagedWeight ?? DEFAULT_STAGED_WEIGHT;
  if (!(stagedWeight > 0 && stagedWeight <= 1))
    throw new FederatedConfigError(`stagedWeight must lie in (0, 1], got ${stagedWeight}`);
  return {
    budget,
    random: options.random ?? cryptoRandom,
    now: options.now ?? Date.now,
    stagedWeight,
  };
}

interface RoundRow {
  seq: number;
  id: string;
  base_version_id: string;
  clip: number;
  min_clients: number;
  min_outcomes: number;
  sampling_rate: number;
  noise_multiplier: number;
  deadline: Date;
  weights_length: number;
  intercepts_length: number;
  status: RoundStatus;
  contributions: number;
  opened_at: Date;
  closed_at: Date | null;
  closed_reason: string | null;
  epsilon: number | null;
  delta: number | null;
  round_epsilon: number | null;
  noise_std: number | null;
  result_version_id: string | null;
  actor: string;
}

function toAdminRound(row: RoundRow): AdminRound {
  return {
    id: row.id,
    baseVersionId: row.base_version_id,
    status: row.status,
    clip: row.clip,
    minClients: row.min_clients,
    minOutcomes: row.min_outcomes,
    samplingRate: row.sampling_rate,
    noiseMultiplier: row.noise_multiplier,
    deadline: row.deadline.toISOString(),
    openedAt: row.opened_at.toISOString(),
    closedAt: row.closed_at?.toISOString() ?? null,
    closedReason: row.closed_reason,
    contributions: row.contributions,
    epsilon: row.epsilon,
    delta: row.delta,
    roundEpsilon: row.round_epsilon,
    noiseStd: row.noise_std,
    resultVersionId: row.result_version_id,
    actor: row.actor,
  };
}

async function findRound(tx: Queryable, id: string, lock = false): Promise<RoundRow> {
  const { rows } = await tx.query<RoundRow>(
    `select * from federated_rounds where id = $1${lock ? ' for update' : ''}`,
    [id],
  );
  if (rows.length === 0)
    throw new ApiError(
      404,
      'ROUND_NOT_FOUND',
      `no round ${id}: the manifest's "federated" field lists the open ones`,
    );
  return rows[0];
}

/** The privacy spent by every aggregated round, as an accountant to add to. */
async function spentSoFar(tx: Queryable): Promise<{ accountant: RdpAccountant; rounds: number }> {
  const { rows } = await tx.query<{ sampling_rate: number; noise_multiplier: number }>(
    `select sampling_rate, noise_multiplier from federated_rounds
     where status = 'aggregated' order by seq`,
  );
  const accountant = new RdpAccountant();
  for (const row of rows)
    accountant.compose({ samplingRate: row.sampling_rate, noiseMultiplier: row.noise_multiplier });
  return { accountant, rounds: rows.length };
}

/**
 * ε spent, at δ: 0 before any round (the improved conversion alone would read a few
 * thousandths off an empty accountant — the log(1/δ)/(α − 1) term at the largest order).
 */
function spentEpsilon(accountant: RdpAccountant, rounds: number, delta: number): number {
  return rounds === 0 ? 0 : accountant.epsilon(delta).epsilon;
}

const round4 = (x: number) => (Number.isFinite(x) ? Number(x.toPrecision(4)) : x);

/** Refuses (BUDGET_EXCEEDED) unless one more round of (q, z) fits the budget; ε after it. */
function checkBudget(
  { accountant, rounds }: { accountant: RdpAccountant; rounds: number },
  round: { samplingRate: number; noiseMultiplier: number },
  budget: PrivacyBudget,
): { after: number; alone: number } {
  const after = accountant.epsilonAfter(round, budget.delta);
  const alone = new RdpAccountant().epsilonAfter(round, budget.delta);
  if (after > budget.epsilon) {
    const spent = spentEpsilon(accountant, rounds, budget.delta);
    const fits = Number.isFinite(spent) && spent < budget.epsilon;
    throw new ApiError(
      409,
      'BUDGET_EXCEEDED',
      `this round would bring ε to ${round4(after)} at δ = ${budget.delta}, past the budget ε = ${budget.epsilon} (spent so far: ${round4(spent)})` +
        (fits
          ? `; open it with a larger noise multiplier or a smaller sampling rate, or raise the budget (--dp-epsilon)`
          : '; the budget is spent: raise it (--dp-epsilon) only if the privacy promise allows'),
    );
  }
  return { after, alone };
}

function headShape(head: Record<string, unknown> | null, versionId: string) {
  if (!head)
    throw new ApiError(
      422,
      'NO_BASE_HEAD',
      `${versionId} has no head (devices start it fresh), so there is nothing to add a delta to: publish a version with a head (head.json) first`,
    );
  try {
    const linear = linearHead(headFromJson(head as unknown as HeadJson));
    return { weights: linear.outputs * linear.dim, intercepts: linear.outputs };
  } catch (error) {
    throw new ApiError(
      422,
      'NO_BASE_HEAD',
      `${versionId}'s head is not a localfit head: ${(error as Error).message}`,
    );
  }
}

export async function openRound(
  db: Database,
  config: FederatedConfig,
  request: OpenRoundRequest,
  actor: string,
): Promise<AdminRound> {
  const now = config.now();
  const deadline =
    request.deadline !== undefined
      ? Date.parse(request.deadline)
      : now + (request.durationSeconds ?? DEFAULT_DURATION_SECONDS) * 1000;
  if (!Number.isFinite(deadline))
    throw new ApiError(400, 'INVALID_BODY', 'deadline must be an ISO 8601 time', {
      path: 'deadline',
    });
  if (deadline <= now)
    throw new ApiError(400, 'INVALID_BODY', 'the deadline must be in the future', {
      path: 'deadline',
    });
  const samplingRate = request.samplingRate ?? 1;
  const noiseMultiplier =
    request.noiseMultiplier ??
    noiseMultiplierFor(config.budget, { samplingRate, steps: DEFAULT_PLANNED_ROUNDS });
  return db.transaction(async (tx) => {
    await lockManifest(tx);
    const { rows: versions } = await tx.query<{
      id: string;
      status: string;
      head: Record<string, unknown> | null;
    }>('select id, status, head from versions where id = $1 or semver = $1', [
      request.baseVersionId,
    ]);
    const base = versions[0];
    if (!base) throw new ApiError(404, 'NOT_FOUND', `no version ${request.baseVersionId}`);
    if (base.status !== 'production' && base.status !== 'staging')
      throw new ApiError(
        409,
        'INVALID_TRANSITION',
        `${base.id} is ${base.status}: a round's base must be served (production or staged)`,
      );
    const shape = headShape(base.head, base.id);
    const open = await tx.query<{ id: string }>(
      `select id from federated_rounds where base_version_id = $1 and status = 'open'`,
      [base.id],
    );
    if (open.rowCount > 0)
      throw new ApiError(
        409,
        'ROUND_OPEN',
        `round ${open.rows[0].id} is open for ${base.id}: close it first (federated close ${open.rows[0].id})`,
      );
    const spent = await spentSoFar(tx);
    if (!Number.isFinite(noiseMultiplier))
      throw new ApiError(
        409,
        'BUDGET_EXCEEDED',
        `no noise multiplier lets ${DEFAULT_PLANNED_ROUNDS} rounds fit ε = ${config.budget.epsilon}: give one (noiseMultiplier)`,
      );
    checkBudget(spent, { samplingRate, noiseMultiplier }, config.budget);
    const { rows: seqs } = await tx.query<{ seq: number }>(
      'select coalesce(max(seq), 0)::int + 1 as seq from federated_rounds',
    );
    const seq = seqs[0].seq;
    const id = `r${seq}`;
    await tx.query(
      `insert into federated_rounds
         (seq, id, base_version_id, clip, min_clients, min_outcomes, sampling_rate,
          noise_multiplier, deadline, weights_length, intercepts_length, status, opened_at, actor)
       values ($1, $2, $3, $4, $5, $6, $7, $8, to_timestamp($9::float8 / 1000), $10, $11, 'open',
         clock_timestamp(), $12)`,
      [
        seq,
        id,
        base.id,
        request.clip,
        request.minClients,
        request.minOutcomes ?? 1,
        samplingRate,
        noiseMultiplier,
        deadline,
        shape.weights,
        shape.intercepts,
        actor,
      ],
    );
    await recordAudit(tx, {
      actor,
      action: 'federated_open',
      versionId: base.id,
      why: request.why,
      details: {
        roundId: id,
        clip: request.clip,
        minClients: request.minClients,
        minOutcomes: request.minOutcomes ?? 1,
        samplingRate,
        noiseMultiplier,
        deadline: new Date(deadline).toISOString(),
      },
    });
    await bumpRevision(tx);
    return toAdminRound(await findRound(tx, id));
  });
}

/** Why an install may not contribute to the round (null: it may). */
async function ineligible(tx: Queryable, round: RoundRow, installId: string) {
  if (!takesPart(round.id, installId, round.sampling_rate))
    return `this install was not sampled for ${round.id} (sampling rate ${round.sampling_rate}; takesPart says so on the device too)`;
  // Compared in the database: its clock made both times, at microseconds.
  const { rows } = await tx.query<{
    before: boolean;
    epochs: { rollout: string; production: string | null; staged: StagedRange[] }[];
  }>(
    `select coalesce((select i.created_at < r.opened_at from installs i where i.id = $1), false)
         as before,
       coalesce((select jsonb_agg(e) from (
         select rollout, production_version_id as production, staged from rollout_epochs
         where to_at is null or to_at >= r.opened_at order by id desc limit 256) e), '[]'::jsonb)
         as epochs
     from federated_rounds r where r.id = $2`,
    [installId, round.id],
  );
  const { before, epochs } = rows[0];
  if (!before)
    return `this install was registered after ${round.id} opened; it may take part in later rounds`;
  for (const epoch of epochs) {
    const range = epoch.staged.find((r) => r.id === round.base_version_id);
    if (!range && epoch.production !== round.base_version_id) continue;
    const bucket = await rolloutBucket(installId, epoch.rollout);
    const inRange = (r: StagedRange) =>
      r.weight > 0 && bucket >= r.start && bucket < r.start + r.weight;
    if (range ? inRange(range) : !epoch.staged.some(inRange)) return null;
  }
  return `this install did not serve ${round.base_version_id} while ${round.id} was open (its bucket is in another version's arm)`;
}

interface StagedRange {
  id: string;
  start: number;
  weight: number;
}

export interface ContributionResult {
  status: 200 | 201;
  body: ContributionResponse;
}

export async function contribute(
  db: Database,
  config: FederatedConfig,
  installId: string,
  request: ContributionRequest,
): Promise<ContributionResult> {
  const bodyHash = sha256Hex(canonicalJson(request));
  return db.transaction(async (tx) => {
    const round = await findRound(tx, request.roundId, true);
    const { rows: existing } = await tx.query<{ body_hash: string; ordinal: number }>(
      'select body_hash, ordinal from federated_contributions where round_id = $1 and install_id = $2',
      [round.id, installId],
    );
    if (existing.length > 0) {
      if (existing[0].body_hash === bodyHash)
        return {
          status: 200,
          body: { roundId: round.id, contributions: existing[0].ordinal, replayed: true },
        };
      throw new ApiError(
        409,
        'DUPLICATE_CONTRIBUTION',
        `this install already contributed to ${round.id}; one contribution per round (drop this one)`,
      );
    }
    if (round.status === 'expired' || (round.status === 'open' && config.now() >= +round.deadline))
      throw new ApiError(
        409,
        'ROUND_EXPIRED',
        `${round.id}'s deadline ${round.deadline.toISOString()} has passed; wait for the next round`,
      );
    if (round.status !== 'open')
      throw new ApiError(
        409,
        'ROUND_CLOSED',
        `${round.id} is ${round.status}; it takes no more contributions`,
      );
    if (request.baseVersionId !== round.base_version_id)
      throw new ApiError(
        409,
        'BASE_MISMATCH',
        `${round.id} averages deltas from ${round.base_version_id}, not ${request.baseVersionId}: contribute only while serving the round's base`,
      );
    const why = await ineligible(tx, round, installId);
    if (why) throw new ApiError(403, 'NOT_ELIGIBLE', why);
    if (request.outcomes < round.min_outcomes)
      throw new ApiError(
        422,
        'TOO_FEW_OUTCOMES',
        `${round.id} needs at least ${round.min_outcomes} outcomes learned on ${round.base_version_id}, got ${request.outcomes}: contribute once you have learned more`,
      );
    if (
      request.delta.weights.length !== round.weights_length ||
      request.delta.intercepts.length !== round.intercepts_length
    )
      throw new ApiError(
        422,
        'SHAPE_MISMATCH',
        `${round.base_version_id}'s head takes a delta of ${round.weights_length} weights and ${round.intercepts_length} intercepts, got ${request.delta.weights.length} and ${request.delta.intercepts.length}`,
        { path: 'delta' },
      );
    const localNoise = request.localNoise ?? 0;
    const norm = deltaNorm(request.delta);
    // With local noise the norm exceeds clip by design; aggregation re-clips every delta.
    if (localNoise === 0 && norm > round.clip * (1 + CLIP_TOLERANCE))
      throw new ApiError(
        422,
        'CLIP_EXCEEDED',
        `the delta's L2 norm is ${norm}, more than ${round.id}'s clip ${round.clip}: scale it by min(1, clip/norm) before sending`,
        { path: 'delta' },
      );
    const { rows: counted } = await tx.query<{ contributions: number }>(
      `update federated_rounds set contributions = contributions + 1 where id = $1
       returning contributions`,
      [round.id],
    );
    const ordinal = counted[0].contributions;
    await tx.query(
      `insert into federated_contributions
         (round_id, install_id, body_hash, outcomes, local_noise, delta, ordinal, received_at)
       values ($1, $2, $3, $4, $5, $6::jsonb, $7, clock_timestamp())`,
      [
        round.id,
        installId,
        bodyHash,
        request.outcomes,
        localNoise,
        JSON.stringify(request.delta),
        ordinal,
      ],
    );
    return { status: 201, body: { roundId: round.id, contributions: ordinal, replayed: false } };
  });
}

/** Averages the round into a new staged version; in a transaction holding the manifest lock. */
async function aggregateIn(
  tx: Queryable,
  config: FederatedConfig,
  round: RoundRow,
  actor: string,
  why: string | undefined,
): Promise<void> {
  const { rows: versions } = await tx.query<{
    status: string;
    model_sha256: string;
    feature_spec: Record<string, unknown>;
    head: Record<string, unknown> | null;
  }>('select status, model_sha256, feature_spec, head from versions where id = $1', [
    round.base_version_id,
  ]);
  const base = versions[0];
  // A base the rollout rolled back (or that was replaced) is no start for a new version.
  if (base.status !== 'production' && base.status !== 'staging')
    throw new ApiError(
      409,
      'INVALID_TRANSITION',
      `${round.id}'s base ${round.base_version_id} is ${base.status} now: close the round with cancel`,
    );
  headShape(base.head, round.base_version_id);
  if (round.contributions < round.min_clients)
    throw new ApiError(
      409,
      'TOO_FEW_CONTRIBUTIONS',
      `${round.id} holds ${round.contributions} contributions, fewer than its minimum ${round.min_clients}: wait for more, or close it with cancel`,
    );
  const event = { samplingRate: round.sampling_rate, noiseMultiplier: round.noise_multiplier };
  const { after, alone } = checkBudget(await spentSoFar(tx), event, config.budget);
  const { rows: deltas } = await tx.query<{ delta: { weights: number[]; intercepts: number[] } }>(
    'select delta from federated_contributions where round_id = $1 order by ordinal',
    [round.id],
  );
  const average = aggregate(
    deltas.map((d) => d.delta),
    { clip: round.clip, noiseMultiplier: round.noise_multiplier, random: config.random },
  );
  const head = headToJson(applyDelta(headFromJson(base.head as unknown as HeadJson), average.mean));
  const provenance = {
    roundId: round.id,
    baseVersionId: round.base_version_id,
    epsilon: after,
    delta: config.budget.delta,
    roundEpsilon: alone,
    contributions: average.n,
    clip: round.clip,
    noiseMultiplier: round.noise_multiplier,
    samplingRate: round.sampling_rate,
    noiseStd: average.noiseStd,
  };
  const version = await publishVersionIn(tx, {
    model: { sha256: base.model_sha256 },
    featureSpec: base.feature_spec,
    head: head as unknown as Record<string, unknown>,
    weight: config.stagedWeight,
    actor,
    why: `federated round ${round.id}: ${average.n} contributions on ${round.base_version_id}, ε = ${round4(after)} at δ = ${config.budget.delta}`,
    metadata: { federated: provenance },
  });
  await tx.query(
    `update federated_rounds set status = 'aggregated', closed_at = clock_timestamp(),
       epsilon = $2, delta = $3, round_epsilon = $4, noise_std = $5, result_version_id = $6
     where id = $1`,
    [round.id, after, config.budget.delta, alone, average.noiseStd, version.id],
  );
  await recordAudit(tx, {
    actor,
    action: 'federated_aggregate',
    versionId: version.id,
    why,
    details: provenance,
  });
  await bumpRevision(tx);
}

async function endRound(
  tx: Queryable,
  round: RoundRow,
  status: 'closed' | 'expired',
  reason: string,
  actor: string,
  why: string | undefined,
): Promise<void> {
  await tx.query(
    `update federated_rounds set status = $2, closed_at = clock_timestamp(), closed_reason = $3
     where id = $1`,
    [round.id, status, reason],
  );
  await recordAudit(tx, {
    actor,
    action: status === 'closed' ? 'federated_close' : 'federated_expire',
    versionId: round.base_version_id,
    why,
    details: { roundId: round.id, reason, contributions: round.contributions },
  });
  await bumpRevision(tx);
}

async function lockOpenRound(tx: Queryable, id: string): Promise<RoundRow> {
  await lockManifest(tx);
  const round = await findRound(tx, id, true);
  if (round.status !== 'open')
    throw new ApiError(
      409,
      'ROUND_CLOSED',
      `${round.id} is ${round.status} already${round.result_version_id ? ` (it made ${round.result_version_id})` : ''}`,
    );
  return round;
}

/**
 * The admin ends a round: aggregated into a staged version (refused, and left open, when it
 * has too few contributions or would exceed the budget), or with `cancel`, ended unused.
 */
export async function closeRound(
  db: Database,
  config: FederatedConfig,
  id: string,
  request: CloseRoundRequest,
  actor: string,
): Promise<AdminRound> {
  return db.transaction(async (tx) => {
    const round = await lockOpenRound(tx, id);
    if (request.cancel) await endRound(tx, round, 'closed', 'cancelled', actor, request.why);
    else await aggregateIn(tx, config, round, actor, request.why);
    return toAdminRound(await findRound(tx, round.id));
  });
}

/** What a sweep did with one round past its deadline. */
export interface SweepOutcome {
  roundId: string;
  status: 'aggregated' | 'expired';
  reason?: string;
}

/**
 * Ends every open round whose deadline passed: aggregated if it can be, else expired with the
 * refusal as its reason (too few contributions, the budget, no room to stage a version).
 */
export async function sweepRounds(db: Database, config: FederatedConfig): Promise<SweepOutcome[]> {
  const { rows } = await db.query<{ id: string }>(
    `select id from federated_rounds where status = 'open'
     and deadline <= to_timestamp($1::float8 / 1000) order by seq`,
    [config.now()],
  );
  const outcomes: SweepOutcome[] = [];
  for (const { id } of rows) {
    try {
      await db.transaction(async (tx) => {
        const round = await lockOpenRound(tx, id);
        await aggregateIn(tx, config, round, 'federated', 'the deadline passed');
      });
      outcomes.push({ roundId: id, status: 'aggregated' });
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      if (error.code === 'ROUND_CLOSED') continue; // ended meanwhile (another process, an admin)
      const reason = `${error.code}: ${error.message}`;
      const ended = await db.transaction(async (tx) => {
        await lockManifest(tx);
        const round = await findRound(tx, id, true);
        if (round.status !== 'open') return false;
        await endRound(tx, round, 'expired', reason, 'federated', 'the deadline passed');
        return true;
      });
      if (ended) outcomes.push({ roundId: id, status: 'expired', reason });
    }
  }
  return outcomes;
}

export async function getRound(db: Queryable, id: string): Promise<AdminRound> {
  return toAdminRound(await findRound(db, id));
}

export async function federatedStatus(
  db: Database,
  config: FederatedConfig,
): Promise<FederatedStatus> {
  const { rows } = await db.query<RoundRow>('select * from federated_rounds order by seq');
  const { accountant, rounds } = await spentSoFar(db);
  return {
    rounds: rows.map(toAdminRound),
    budget: {
      ...config.budget,
      spent: spentEpsilon(accountant, rounds, config.budget.delta),
      aggregatedRounds: rounds,
    },
  };
}

/** The manifest's `federated` field: the open rounds, oldest first. */
export async function announcements(tx: Queryable): Promise<RoundAnnouncement[]> {
  const { rows } = await tx.query<RoundRow>(
    `select * from federated_rounds where status = 'open' order by seq`,
  );
  return rows.map((row) => ({
    roundId: row.id,
    baseVersionId: row.base_version_id,
    clip: row.clip,
    samplingRate: row.sampling_rate,
    minOutcomes: row.min_outcomes,
    deadline: row.deadline.toISOString(),
  }));
}
