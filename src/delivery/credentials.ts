/**
 * The device's registration with a sync server: `POST /v1/register` with the app key gives an
 * install id and a bearer token, which are kept in the store so that reloads reuse them (one
 * install per device, not one per page load). A 401 for the token means the server no longer
 * knows it: forget it and register again.
 *
 * A server may bind installs to users (server/register_verify.ts): then registration also
 * carries the app backend's credential (`sync: { registrationToken }`), asked for once per
 * attempt. A registration the server refuses (a wrong app key, a missing, expired or rejected
 * credential) is not asked again before `backoff.maxMs` has passed, whoever asks — metrics
 * delivery or the rollout looking for its bucket — so a refusal costs one request per
 * backoff, never one per manifest check.
 */

import type { RegisterRequest, RegisterResponse } from '../protocol/index.ts';
import type { Reply } from './http.ts';
import { postJson } from './http.ts';
import type { ResolvedSyncOptions } from './options.ts';

export interface Credentials extends RegisterResponse {
  /** The server and app they were issued for: another server or app key registers anew. */
  url: string;
  appKey: string;
  registeredAt: number;
}

/** Where credentials are kept (the store's meta, `syncCredentials`). */
export interface CredentialSlot {
  read(): Promise<unknown>;
  write(value: Credentials | undefined): Promise<void>;
}

/** Printable ASCII without spaces: what fits in `Authorization: Bearer …`. */
const TOKEN = /^[\x21-\x7e]{1,512}$/;
/** The app's registration credential: the same alphabet, longer (JWTs with many claims). */
const CREDENTIAL = /^[\x21-\x7e]{1,8192}$/;

/** A registration refused, as stats show it (`SyncStats.lastError`, kind 'register'). */
export interface RegistrationRefusal {
  at: number;
  kind: 'register';
  status?: number;
  code: string;
  message: string;
}

/** A register reply with the shape the protocol promises, or undefined (invariant 5). */
export function acceptRegistration(body: unknown): RegisterResponse | undefined {
  const reply = body as Partial<RegisterResponse> | null;
  if (typeof reply?.installId !== 'string' || reply.installId.length === 0) return undefined;
  if (reply.installId.length > 200) return undefined;
  if (typeof reply.token !== 'string' || !TOKEN.test(reply.token)) return undefined;
  return { installId: reply.installId, token: reply.token };
}

export class Registration {
  private cached: Credentials | undefined;
  private loaded = false;
  private registering: Promise<Reply<Credentials>> | undefined;
  /** The last refusal, and until when it stands (see the module comment). */
  private refused:
    | { reply: Reply<Credentials>; until: number; refusal: RegistrationRefusal }
    | undefined;

  private readonly slot: CredentialSlot;
  private readonly options: ResolvedSyncOptions;
  private readonly deps: { fetch?: typeof fetch; now: () => number };
  constructor(
    slot: CredentialSlot,
    options: ResolvedSyncOptions,
    deps: { fetch?: typeof fetch; now: () => number },
  ) {
    this.slot = slot;
    this.options = options;
    this.deps = deps;
  }

  /** The stored credentials for this server and app key, if any. */
  async current(): Promise<Credentials | undefined> {
    if (!this.loaded) {
      const stored = (await this.slot.read()) as Partial<Credentials> | undefined;
      const usable =
        stored?.url === this.options.url &&
        stored.appKey === this.options.appKey &&
        acceptRegistration(stored) !== undefined;
      this.cached = usable ? (stored as Credentials) : undefined;
      this.loaded = true;
    }
    return this.cached;
  }

  /**
   * Registers, and stores the credentials before returning them. Callers while a registration
   * is under way share it: one device, one install.
   */
  register(signal?: AbortSignal): Promise<Reply<Credentials>> {
    if (this.refused && this.deps.now() < this.refused.until)
      return Promise.resolve(this.refused.reply);
    this.registering ??= this.registerOnce(signal)
      .then((reply) => this.note(reply))
      .finally(() => {
        this.registering = undefined;
      });
    return this.registering;
  }

  /** The last refusal, while it stands or until a registration succeeds. */
  get refusal(): RegistrationRefusal | undefined {
    return this.refused?.refusal;
  }

  private note(reply: Reply<Credentials>): Reply<Credentials> {
    if (reply.kind === 'ok') this.refused = undefined;
    else if (reply.kind === 'reject' || reply.kind === 'reauth') {
      const at = this.deps.now();
      this.refused = {
        reply,
        until: at + this.options.backoffMaxMs,
        refusal: {
          at,
          kind: 'register',
          ...(reply.status > 0 ? { status: reply.status } : {}),
          code: reply.code,
          message: reply.message,
        },
      };
    }
    return reply;
  }

  /** The app's credential for this attempt, or the reason there is none to send. */
  private async credential(): Promise<
    { token: string | undefined } | { refused: Reply<Credentials> }
  > {
    const provide = this.options.registrationToken;
    if (!provide) return { token: undefined };
    let token: unknown;
    try {
      token = await provide();
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      return {
        refused: {
          kind: 'reject',
          status: 0,
          code: 'NO_CREDENTIAL',
          message: `registrationToken threw (${why}); registering again after backoff.maxMs`,
        },
      };
    }
    if (token === undefined || token === '') return { token: undefined };
    if (typeof token !== 'string' || !CREDENTIAL.test(token))
      return {
        refused: {
          kind: 'reject',
          status: 0,
          code: 'BAD_CREDENTIAL',
          message:
            'registrationToken must give printable ASCII without spaces, at most 8192 characters (e.g. a JWT)',
        },
      };
    return { token };
  }

  private async registerOnce(signal?: AbortSignal): Promise<Reply<Credentials>> {
    const request: RegisterRequest = { appKey: this.options.appKey };
    if (this.options.client) request.client = this.options.client;
    const credential = await this.credential();
    if ('refused' in credential) return credential.refused;
    const reply = await postJson(`${this.options.url}/v1/register`, request, {
      ...(credential.token !== undefined ? { token: credential.token } : {}),
      timeoutMs: this.options.requestTimeoutMs,
      maxRetryAfterMs: this.options.maxRetryAfterMs,
      accept: acceptRegistration,
      signal,
      fetch: this.deps.fetch,
      now: this.deps.now,
    });
    if (reply.kind !== 'ok') return reply;
    const credentials: Credentials = {
      ...reply.body,
      url: this.options.url,
      appKey: this.options.appKey,
      registeredAt: this.deps.now(),
    };
    await this.slot.write(credentials);
    this.cached = credentials;
    this.loaded = true;
    return { ...reply, body: credentials };
  }

  /** The server refused the token: drop it, so the next send registers again. */
  async forget(): Promise<void> {
    this.cached = undefined;
    this.loaded = true;
    await this.slot.write(undefined);
  }
}
