/**
 * What `stats().sync` shows, and how it is put together from the reporter's parts: the store's
 * all-time counters and its outbox, the delivery's status, the registration, the open windows
 * and the slates. The last error shown is the latest of the delivery's, the registration's and
 * the store's.
 */
import type { Credentials, RegistrationRefusal } from '../delivery/credentials.ts';
import type { DeliveryError, DeliveryStatus } from '../delivery/delivery.ts';
import { DELIVERY_COUNTERS } from '../delivery/delivery.ts';
import { COUNTERS } from '../store/index.ts';
import type { SlateStats } from './slates.ts';

/** What `stats().sync` shows. Counts marked "all time" survive reloads. */
export interface SyncStats {
  /** The server reported to. */
  url: string;
  /** Whether the device holds credentials for it, and its install id there. */
  registered: boolean;
  installId?: string;
  /** 'sending' during a request, 'waiting' while backing off, else 'idle'. */
  state: DeliveryStatus['state'];
  /** Outcomes in windows still open (not yet queued). */
  openOutcomes: number;
  /** Windows closed (all time). */
  windows: number;
  /** Windows in the outbox, waiting to be sent. */
  queued: number;
  /** Windows the server acknowledged (all time). */
  delivered: number;
  /** Windows the server refused as invalid: dropped, not retried (all time). */
  rejected: number;
  /** Windows the full outbox dropped, oldest first (all time); reported to the server too. */
  dropped: number;
  /** Requests since this learner started, and how many of them failed (retryably). */
  requests: number;
  failures: number;
  consecutiveFailures: number;
  /** While backing off: the earliest time of the next request (epoch ms). */
  nextAttemptAt?: number;
  lastDeliveredAt?: number;
  /** The last failure: a retry reason ('network', 'timeout', 'server', 'rate-limited', 'bad-reply'), 'rejected', 'register' or 'storage'. */
  lastError?: DeliveryError | RegistrationRefusal | StorageError;
  /** The last batch refused for good, and why (the server's error code). */
  lastRejection?: DeliveryStatus['lastRejection'];
  /**
   * Slates since this learner started (they are not kept across reloads): open, evaluated,
   * closed without a relevant candidate, evicted, expired, and outcomes naming no open slate.
   * `rankingRefused` counts slate results not added because the window had another k.
   */
  slates?: SlateStats & { rankingRefused: number };
}

/** A failure to save the reporter's state or to queue its windows. */
export interface StorageError {
  at: number;
  kind: 'storage';
  message: string;
}

/** What the reporter knows when asked for its stats. */
export interface StatsParts {
  url: string;
  /** The store's all-time counters. */
  counters: Record<string, number>;
  /** Windows in the outbox. */
  queued: number;
  credentials: Credentials | undefined;
  delivery: DeliveryStatus;
  refusal: RegistrationRefusal | undefined;
  storageError: StorageError | undefined;
  openOutcomes: number;
  /** Windows closed, all time. */
  windows: number;
  slates: SlateStats & { rankingRefused: number };
  now: number;
}

/** The reporter's `SyncStats` from its parts. */
export function syncStats(parts: StatsParts): SyncStats {
  const { counters, delivery, credentials } = parts;
  const stats: SyncStats = {
    url: parts.url,
    registered: credentials !== undefined,
    state: delivery.state,
    openOutcomes: parts.openOutcomes,
    windows: parts.windows,
    queued: parts.queued,
    delivered: counters[DELIVERY_COUNTERS.delivered] ?? 0,
    rejected: counters[DELIVERY_COUNTERS.rejected] ?? 0,
    dropped: counters[COUNTERS.outboxDropped] ?? 0,
    requests: delivery.requests,
    failures: delivery.failures,
    consecutiveFailures: delivery.consecutiveFailures,
  };
  if (credentials) stats.installId = credentials.installId;
  if (delivery.notBefore > parts.now) stats.nextAttemptAt = delivery.notBefore;
  if (delivery.lastDeliveredAt !== undefined) stats.lastDeliveredAt = delivery.lastDeliveredAt;
  const lastError = latest(latest(delivery.lastError, parts.storageError), parts.refusal);
  if (lastError) stats.lastError = lastError;
  if (delivery.lastRejection) stats.lastRejection = delivery.lastRejection;
  stats.slates = parts.slates;
  return stats;
}

function latest<A extends { at: number }, B extends { at: number }>(
  a: A | undefined,
  b: B | undefined,
): A | B | undefined {
  if (!a) return b;
  if (!b) return a;
  return b.at > a.at ? b : a;
}
