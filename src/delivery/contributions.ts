/**
 * The wire side of a federated contribution (src/protocol/federated.ts): the outbox record's
 * key, the request to `POST /v1/federated/contributions` with the device token, and the check of
 * its answer. The contribution's body was made on the device (src/federated/participant.ts) and
 * queued as is; delivery.ts routes it here by its key and sends it unchanged, so a retry is the
 * very same bytes, which the server answers as it did the first time (200, replayed).
 */
import type { ContributionRequest, ContributionResponse } from '../protocol/federated.ts';
import { CONTRIBUTIONS_PATH } from '../protocol/federated.ts';
import type { Reply } from './http.ts';
import { postJson } from './http.ts';
import type { ResolvedSyncOptions } from './options.ts';

/** Outbox keys of contributions start with this (then the round id). */
export const CONTRIBUTION_PREFIX = 'contribution:';

export const CONTRIBUTION_COUNTERS = {
  /** Contributions the server acknowledged. */
  delivered: 'federatedContributionsDelivered',
  /** Contributions refused for good (with `.<code>` per reason): dropped. */
  refused: 'federatedContributionsRefused',
} as const;

/** Told when a contribution is settled: acknowledged (no code) or refused for good. */
export type ContributionSettled = (key: string, result: { code?: string }) => unknown;

export function isContribution(key: string): boolean {
  return key.startsWith(CONTRIBUTION_PREFIX);
}

/** Posts a queued contribution; a body that is not one (a damaged record) is refused here. */
export async function postContribution(
  options: Pick<ResolvedSyncOptions, 'url' | 'requestTimeoutMs' | 'maxRetryAfterMs'>,
  body: unknown,
  token: string,
  extra: { signal?: AbortSignal; fetch?: typeof fetch; now?: () => number },
): Promise<Reply<ContributionResponse>> {
  const request = body as Partial<ContributionRequest> | null;
  if (typeof request?.roundId !== 'string' || !Array.isArray(request.delta?.weights)) {
    return { kind: 'reject', status: 0, code: 'CORRUPT', message: 'not a contribution' };
  }
  return postJson(`${options.url}${CONTRIBUTIONS_PATH}`, request, {
    token,
    timeoutMs: options.requestTimeoutMs,
    maxRetryAfterMs: options.maxRetryAfterMs,
    accept: (reply) => acceptContributionResponse(reply, request.roundId as string),
    ...extra,
  });
}

/** A reply that answers this round's contribution, or undefined (malformed: retry). */
export function acceptContributionResponse(
  body: unknown,
  roundId: string,
): ContributionResponse | undefined {
  const reply = body as Partial<ContributionResponse> | null;
  if (reply?.roundId !== roundId) return undefined;
  if (!Number.isInteger(reply.contributions) || typeof reply.replayed !== 'boolean')
    return undefined;
  return reply as ContributionResponse;
}
