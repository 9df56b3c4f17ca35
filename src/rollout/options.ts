/** How a learner takes part in staged rollouts (`LearnerInit.rollout`; see rollout.ts). */
import type { GuardrailOptions } from './guardrails.ts';

export interface RolloutOptions {
  /** The key manifests are signed with (`GET /v1/public-key`'s `raw`, base64): built into the app. */
  publicKey?: string;
  /**
   * Several keys, for a rotation (server/README.md, "Rotating the signing key"): manifests
   * signed by any of them are accepted. With `publicKey` too, all are used.
   */
  publicKeys?: string[];
  /** Check the manifest at least this often while the live stream is down (default 5 min, ±20 %). */
  pollIntervalMs?: number;
  /** Listen to the server's events for an immediate push of a new manifest (default true). */
  live?: boolean;
  /** Model downloads larger than this are refused (default 64 MiB). */
  maxModelBytes?: number;
  /** When a staged version is taken out of service on the device at once. */
  guardrails?: GuardrailOptions;
  /**
   * The oldest manifest this build of the app takes, so that a fresh install (or cleared
   * storage) can never be sent below its own build by a replayed older manifest: the manifest
   * revision current when the app was built (`GET /v1/manifest`'s `revision`), or an ISO
   * 8601 UTC time its `issuedAt` must not precede (e.g. the build time). Older manifests are
   * refused (`below_floor`). Default: none.
   */
  notBefore?: number | string;
}
