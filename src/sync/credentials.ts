/**
 * The device's registration with a sync server: `POST /v1/register` with the app key gives an
 * install id and a bearer token, which are kept in the store so that reloads reuse them (one
 * install per device, not one per page load). A 401 for the token means the server no longer
 * knows it: forget it and register again.
 */
import type { Reply } from './http.ts';
import { postJson } from './http.ts';
import type { ResolvedSyncOptions } from './options.ts';
import type { RegisterRequest, RegisterResponse } from './protocol.ts';

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
    this.registering ??= this.registerOnce(signal).finally(() => {
      this.registering = undefined;
    });
    return this.registering;
  }

  private async registerOnce(signal?: AbortSignal): Promise<Reply<Credentials>> {
    const request: RegisterRequest = { appKey: this.options.appKey };
    if (this.options.client) request.client = this.options.client;
    const reply = await postJson(`${this.options.url}/v1/register`, request, {
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
