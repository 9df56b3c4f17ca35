// The operator's side of a bench page that follows a real sync server: admin calls, and one
// "publish a new version at weight 1, wait for the device to serve it, roll it back, wait for
// the device to drop it" cycle, timed. Used by swap.ts (latency during swaps) and memory.ts
// (what ten swaps leave behind in the worker).

import type { Learner } from '../../src/client/index.ts';
import type { LearnerEventMap } from '../../src/runtime/events.ts';
import { sha256Hex } from '../../src/sha256.ts';
import { passingBackbone } from '../../test/browser/sync/rollout_models.ts';

/** A device that never hears of a change within this long fails the run, not hangs it. */
const WAIT_MS = 60_000;

export interface Operator {
  server: string;
  adminToken: string;
}

export async function admin<T>(
  operator: Operator,
  method: string,
  path: string,
  body?: unknown,
  raw?: Uint8Array,
): Promise<T> {
  const headers: Record<string, string> = { authorization: `Bearer ${operator.adminToken}` };
  if (raw) headers['content-type'] = 'application/octet-stream';
  else if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${operator.server}${path}`, {
    method,
    headers,
    body: raw
      ? (raw as Uint8Array<ArrayBuffer>)
      : body === undefined
        ? undefined
        : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return JSON.parse(text) as T;
}

/** The learner's next rollout event of this kind for a version `wanted`, or an error after WAIT_MS. */
function next(
  learner: Learner,
  action: LearnerEventMap['rollout']['action'],
  wanted: (versionId: string) => boolean,
): Promise<{ event: LearnerEventMap['rollout']; at: number }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no '${action}' rollout event within ${WAIT_MS} ms`));
    }, WAIT_MS);
    const off = learner.on('rollout', (event) => {
      if (event.action !== action || !wanted(event.versionId)) return;
      const at = performance.now();
      clearTimeout(timer);
      off();
      resolve({ event, at });
    });
  });
}

/** One cycle's times, on the page's clock (ms); `swapMs` as the learner's event reports it. */
export interface SwapCycle {
  id: string;
  publishedAt: number;
  servingAt: number;
  swapMs: number;
  rollbackAt: number;
  droppedAt: number;
}

/**
 * Publishes version `k` (distinct bytes: a salt in one bias, so each is a new download) at
 * weight 1, waits until the device serves it, calls `whileServing`, rolls it back and waits
 * until the device has dropped it. `published` lists the ids so far and gains the new one.
 */
export async function swapCycle(
  operator: Operator,
  learner: Learner,
  k: number,
  published: string[],
  whileServing: () => Promise<void> = async () => {},
): Promise<SwapCycle> {
  const bytes = passingBackbone(8, k);
  const { sha256 } = await admin<{ sha256: string }>(
    operator,
    'PUT',
    `/v1/admin/models/${await sha256Hex(bytes)}`,
    undefined,
    bytes,
  );
  // Listening before publishing: the live stream may announce it before the POST answers.
  const known = [...published];
  const staged = next(learner, 'staged', (versionId) => !known.includes(versionId));
  const publishedAt = performance.now();
  const { id } = await admin<{ id: string }>(operator, 'POST', '/v1/admin/versions', {
    model: { sha256 },
    weight: 1,
  });
  published.push(id);
  const { event, at: servingAt } = await staged;
  if (event.versionId !== id) throw new Error(`staged ${event.versionId}, published ${id}`);
  if (event.swapMs === undefined) throw new Error(`the staged event of ${id} has no swapMs`);
  await whileServing();
  const dropped = next(learner, 'rolled_back', (versionId) => versionId === id);
  const rollbackAt = performance.now();
  await admin(operator, 'POST', `/v1/admin/versions/${id}/rollback`, {});
  const { at: droppedAt } = await dropped;
  return { id, publishedAt, servingAt, swapMs: event.swapMs, rollbackAt, droppedAt };
}
