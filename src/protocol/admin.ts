/**
 * JSON of the admin API (`/v1/admin/*`), shared by the server, its CLI and the demo's operator
 * panel. Devices never send or read these; their wire types are the rest of src/protocol.
 */
import type { VersionStatus } from './manifest.ts';

/** Every admin change may say who asks and why; both go to the audit log. */
export interface AdminIntent {
  /** Who asks (a person or a job); defaults to `admin`. Up to 100 characters. */
  actor?: string;
  /** Why, in words, for the audit log. Up to 1000 characters. */
  why?: string;
}

/** `POST /v1/admin/versions`: stage an uploaded model as a new version. */
export interface PublishRequest extends AdminIntent {
  /** Bytes uploaded first with `PUT /v1/admin/models/<sha256>`. */
  model: { sha256: string };
  /** Defaults to the highest semver so far with its minor part bumped (1.0.0 for the first). */
  semver?: string;
  /** Defaults to the spec in the model's metadata (`localfit.feature_spec`). */
  featureSpec?: Record<string, unknown>;
  /** Initial head (device JSON), or null/absent: devices start a fresh head. */
  head?: Record<string, unknown> | null;
  /** Initial staged weight, 0..1. */
  weight: number;
}

/** `POST /v1/admin/versions/<id>/ramp`. */
export interface RampRequest extends AdminIntent {
  weight: number;
}

/** `POST /v1/admin/versions/<id>/promote` and `/rollback`. */
export type TransitionRequest = AdminIntent;

/** `PUT /v1/admin/models/<sha256>` answer. */
export interface UploadResponse {
  sha256: string;
  bytes: number;
  /** False when these bytes were already stored (uploads are idempotent). */
  created: boolean;
}

export interface AdminVersion {
  id: string;
  semver: string;
  status: VersionStatus;
  /** Staged share of traffic; 0 for every other status. */
  weight: number;
  /** Staged versions: where their bucket range starts (fixed at publish); else null. */
  bucketStart: number | null;
  /** Whether the rollout policy may ramp, promote or roll back this version. */
  autopilot: boolean;
  model: { sha256: string; bytes: number };
  featureSpec: Record<string, unknown>;
  head: Record<string, unknown> | null;
  createdAt: string;
  updatedAt: string;
  /** Where the version came from, when the server made it (a federated round: its ε, δ, id). */
  metadata?: Record<string, unknown>;
}

export type AuditAction =
  | 'publish'
  | 'ramp'
  | 'promote'
  | 'rollback'
  | 'upload'
  | 'autopilot'
  | 'federated_open'
  | 'federated_close'
  | 'federated_aggregate'
  | 'federated_expire';

/** `POST /v1/admin/versions/<id>/autopilot`. */
export interface AutopilotRequest extends AdminIntent {
  enabled: boolean;
}

export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  action: AuditAction;
  versionId: string | null;
  why: string | null;
  details: Record<string, unknown>;
}

/** Fleet-wide metrics of one version, from every device's windows. */
export interface VersionAggregate {
  versionId: string;
  devices: number;
  windows: number;
  samples: number;
  /** Means over the samples that reported them; null when none did. */
  logloss: number | null;
  accuracy: number | null;
  auc: number | null;
  rmse: number | null;
  mae: number | null;
  /** clicks / impressions and conversions / impressions. */
  ctr: number | null;
  conversionRate: number | null;
  impressions: number;
  /** Mean precision@k, recall@k, NDCG@k over slates. */
  ranking: {
    k: number | null;
    slates: number;
    precision: number;
    recall: number;
    ndcg: number;
  } | null;
  predictionMean: number | null;
  driftAlerts: number;
  dropped: number;
  /** Shadow comparisons against each baseline: d = logloss(this) − logloss(baseline). */
  paired: PairedAggregate[];
  /** What devices reported happening to this version (VersionEvent), by kind. */
  events: EventAggregate;
}

/** Devices (distinct installs) per kind of device-side version event. */
export interface EventAggregate {
  staged: number;
  promoted: number;
  /** Devices that rolled the version back through a local guardrail, and why. */
  rolledBack: number;
  rolledBackBy: ReasonCount[];
  /** Devices that refused it while downloading or verifying, and why. */
  refused: number;
  refusedBy: ReasonCount[];
}

export interface ReasonCount {
  /** The reason's code: its text before the first ':' (`sha256_mismatch`, `latency`…). */
  code: string;
  devices: number;
  events: number;
  /** The most recent full reason seen for this code. */
  example: string | null;
}

export interface PairedAggregate {
  baselineVersionId: string;
  devices: number;
  n: number;
  meanDiff: number | null;
  /** Standard error of the mean difference (per outcome). */
  stdError: number | null;
}

/** `GET /v1/admin/status`. */
export interface StatusResponse {
  versions: StatusVersion[];
  audit: AuditEntry[];
}

export interface StatusVersion {
  /** Null for metrics that name a version id the server never published. */
  version: AdminVersion | null;
  versionId: string;
  metrics: VersionAggregate | null;
  /** Staged versions: the rollout policy's current reading and verdict. */
  policy?: PolicyVerdict;
  /** Windows that named this version but may not speak for it (server/rollout/epochs.ts). */
  rejected: RejectedEvidence[];
}

/** Windows refused as evidence for a version, per reason; stored, but in no sum. */
export interface RejectedEvidence {
  /** `outside_arm`, `registered_after_staging`, `wrong_baseline`, `not_live`, `before_staging`. */
  reason: string;
  installs: number;
  windows: number;
  outcomes: number;
}

/** `POST /v1/admin/policy/evaluate`. */
export interface PolicyEvaluation {
  /** Whether the autopilot is on server-wide (`startServer({ policy: { enabled } })`). */
  enabled: boolean;
  verdicts: PolicyVerdict[];
}

/** What the rollout policy reads from the fleet about one staged version, and decides. */
export interface PolicyVerdict {
  versionId: string;
  /** The production version the paired comparisons are against (null: none). */
  baselineVersionId: string | null;
  weight: number;
  /** Devices with paired comparisons against the baseline, and their outcomes in total. */
  devices: number;
  n: number;
  /** Mean of d = logloss(staged) − logloss(baseline); negative means staged is better. */
  meanDiff: number | null;
  /** Anytime-valid confidence bounds on that mean (src/rollout/confidence_sequence.ts). */
  lower: number | null;
  upper: number | null;
  /** Paired outcomes received since the version's weight last changed. */
  nAtWeight: number;
  /** Devices that rolled the version back locally (guardrails). */
  guardrailDevices: number;
  /** Installs whose windows for the version counted: the arm's active devices. */
  armDevices: number;
  /** Devices whose paired outcomes were capped (one device counts as one cluster). */
  cappedDevices: number;
  decision: 'promote' | 'rollback' | 'ramp' | 'hold';
  /** The weight a `ramp` decision moves to. */
  toWeight?: number;
  /** Why, with the numbers; what the audit entry says when the decision is applied. */
  reason: string;
  /**
   * What happened: `applied`; `off` (autopilot disabled, server-wide or for this version);
   * `refused` (the store refused, e.g. the state changed meanwhile or ranges overlap; see
   * `error`); `none` for a hold or a reading without action (status).
   */
  outcome: 'applied' | 'off' | 'refused' | 'none';
  error?: string;
}

// ─── federated rounds (server/federated/) ───────────────────────────────────────────────

export type RoundStatus = 'open' | 'closed' | 'aggregated' | 'expired';

/** `POST /v1/admin/federated/rounds`. */
export interface OpenRoundRequest extends AdminIntent {
  /** The base version: an id (`v3`) or semver; it must be live and have a head. */
  baseVersionId: string;
  /** L2 norm every contribution is clipped to. */
  clip: number;
  /** Contributions needed before the round may be aggregated. */
  minClients: number;
  /** Outcomes an install must have learned on the base (k; default 1). */
  minOutcomes?: number;
  /** q ∈ (0, 1]: the share of eligible installs that take part (default 1: all). */
  samplingRate?: number;
  /**
   * z: noise standard deviation over clip. Default: the smallest z with which
   * DEFAULT_PLANNED_ROUNDS rounds like this one fit the whole budget.
   */
  noiseMultiplier?: number;
  /** When the round stops taking contributions (ISO 8601); default durationSeconds from now. */
  deadline?: string;
  /** Alternative to `deadline` (default 86,400: one day). */
  durationSeconds?: number;
}

/** `POST /v1/admin/federated/rounds/<id>/close` (body optional). */
export interface CloseRoundRequest extends AdminIntent {
  /** End the round without aggregating (its contributions stay stored, unused). */
  cancel?: boolean;
}

export interface AdminRound {
  id: string;
  baseVersionId: string;
  status: RoundStatus;
  clip: number;
  minClients: number;
  minOutcomes: number;
  samplingRate: number;
  noiseMultiplier: number;
  deadline: string;
  openedAt: string;
  closedAt: string | null;
  /** Why a round ended without a version (`cancelled`, `TOO_FEW_CONTRIBUTIONS: …`, …). */
  closedReason: string | null;
  contributions: number;
  /** Aggregated rounds: ε of every aggregated round so far, this one included, at `delta`. */
  epsilon: number | null;
  delta: number | null;
  /** Aggregated rounds: ε of this round alone, at `delta`. */
  roundEpsilon: number | null;
  /** Aggregated rounds: σ = z·clip/n, the noise on every coordinate of the average. */
  noiseStd: number | null;
  /** The staged version the round made. */
  resultVersionId: string | null;
  actor: string;
}

export interface PrivacyBudget {
  epsilon: number;
  delta: number;
}

/** `GET /v1/admin/federated/rounds`. */
export interface FederatedStatus {
  rounds: AdminRound[];
  budget: PrivacyBudget & {
    /** ε spent by every aggregated round, at the budget's δ (RDP, composed). */
    spent: number;
    aggregatedRounds: number;
  };
}
