/**
 * The rollout lab (Node side) for the browser tests of receiving versions: each test gets its
 * own real sync server (in-memory PGlite, its own signing key) and, in front of it, a
 * tampering proxy that plays the attacker or the broken network between server and device —
 * it can change model bytes, cut them short, serve another model's bytes, strip or corrupt the
 * manifest's signature, replay an older genuinely signed manifest, or serve bytes signed with
 * the server's real key (a faulty server). Admin calls go straight to the server.
 *
 * Control API (CORS open, so browser tests drive it):
 * - `POST /servers` with an optional {@link LabServerRequest} → {@link LabServerInfo}
 * - `POST /servers/<id>/tamper` with a {@link Tampering} (fields left out keep their mode)
 *   → `{ since }`: the number of requests logged before the switch
 * - `GET /servers/<id>/log?since=N` → the {@link LabRequest}s after N
 * - `GET /servers/<id>/captured` → the revisions of the manifests captured so far
 * - `POST /servers/<id>/settle` → `{ settled: true }` once the server's rollout policy has no
 *   evaluation scheduled or running (`autopilot.idle()`): metrics ingest schedules one after
 *   a debounce, and a test waits for it here rather than for time to pass
 * - `POST /servers/<id>/expire` → `{ expired }`: every install has been idle past the
 *   server's `inactiveInstallDays` (its `last_seen_at` moved back), and the server process is
 *   replaced by a new one on the same database and port (see `LabInstance.expireInstalls`)
 * - `GET /servers/<id>/stored` → the metric windows the server's database holds:
 *   `{ installId, windowId, dropped }[]`, by install and window id
 * - `POST /servers/<id>/rotate` with `{ step: 'prepare' | 'activate' }` → `{ publicKey }`: the
 *   operator's `rotate-key` step (server/key_rotation.ts, on the server's database and its
 *   data directory's key files), then the server process replaced on the same port, as the
 *   procedure asks (server/README.md, "Rotating the signing key")
 * - `POST /servers/<id>/token` with `{ subject, expiresInSeconds? }` → `{ token }`: for a
 *   server started with `registration: 'jwt'`, a JWT from the app's backend — signed by the
 *   lab's own ES256 key, whose JWKS it serves on 127.0.0.1 to the server's `jwtVerifier`
 *   (a negative `expiresInSeconds` gives an expired token)
 * - `GET /servers/<id>/installs` → `{ id, subject }[]`: the server's installs
 * - `DELETE /servers/<id>` → stops the proxy and the server
 */

import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer, request } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { type DataDir, ensureDataDir } from '../../server/data_dir.ts';
import type { Database } from '../../server/db/database.ts';
import { openDatabase } from '../../server/db/open.ts';
import { activateNextKey, prepareNextKey } from '../../server/key_rotation.ts';
import { readKeyFile } from '../../server/key_store.ts';
import { jwtVerifier, type RegisterVerifier } from '../../server/register_verify.ts';
import { PolicyConfigError, type PolicyOptions } from '../../server/rollout/policy.ts';
import {
  generateSigningKey,
  keyIdOf,
  loadSigningKey,
  type SigningKey,
  signBytes,
} from '../../server/signing.ts';
import { type RunningServer, startServer } from '../../server/start.ts';
import { modelBytes } from '../../server/store/models.ts';
import type { PublicKeyResponse } from '../../src/protocol/index.ts';
import { SIGNATURE_HEADER, SIGNATURE_KEY_HEADER } from '../../src/protocol/index.ts';
import { readBody } from './read_body.ts';

export type ManifestTampering =
  | { kind: 'pass' }
  /** Drop the signature header. */
  | { kind: 'strip-signature' }
  /** Flip one bit of the signature. */
  | { kind: 'corrupt-signature' }
  /** Flip one bit of the body, keep the server's signature. */
  | { kind: 'corrupt-body' }
  /** Serve a manifest captured earlier (its bytes, signature and ETag): the oldest by default. */
  | { kind: 'replay'; revision?: number }
  /** Serve these bytes signed with the server's own key: a server that signs nonsense. */
  | { kind: 'signed-body'; body: string }
  /** Re-sign the server's answer with a key no app was built with, naming that key. */
  | { kind: 'foreign-key' }
  | { kind: 'status'; status: number };

export type ModelTampering =
  | { kind: 'pass' }
  /** Flip one bit in the middle of the bytes. */
  | { kind: 'flip' }
  /** Send only the first half (a complete response, just shorter). */
  | { kind: 'truncate' }
  /** Append this many bytes (default 1024), without a Content-Length. */
  | { kind: 'pad'; bytes?: number }
  /** Announce the full size, send the first half, then hold the connection open. */
  | { kind: 'stall' }
  /** Serve the bytes of another model the server stores. */
  | { kind: 'swap'; sha256: string }
  | { kind: 'status'; status: number };

export interface Tampering {
  manifest?: ManifestTampering;
  model?: ModelTampering;
}

/** `POST /servers`: what the new server is started with (`startServer`'s options). */
export interface LabServerRequest {
  /** The rollout policy (server/rollout/policy.ts); default: the server's defaults. */
  policy?: PolicyOptions;
  /** How long signed manifests stay valid (`startServer`'s `manifestLifetimeMs`). */
  manifestLifetimeMs?: number;
  /**
   * `'jwt'`: registration needs a JWT from the app's backend (`register: { verify:
   * jwtVerifier(…) }`), which the lab plays (`POST /servers/<id>/token`).
   */
  registration?: 'jwt';
}

export interface LabServerInfo {
  id: string;
  /** Where devices connect: the tampering proxy. */
  url: string;
  /** The server itself: for admin calls. */
  serverUrl: string;
  appKey: string;
  adminToken: string;
  publicKey: PublicKeyResponse;
}

export interface LabRequest {
  n: number;
  method: string;
  path: string;
  /** The status the device received. */
  status: number;
  ifNoneMatch: string | null;
  /** The tampering applied, or null when the answer passed through as the server sent it. */
  tampered: string | null;
  /** What the device sent (UTF-8), for requests that carry a body; null otherwise. */
  body: string | null;
}

export interface RolloutLab {
  controlUrl: string;
  close(): Promise<void>;
}

// The server's default `inactiveInstallDays` (server/start.ts), which lab servers keep.
const INACTIVE_INSTALL_DAYS = 180;

const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, DELETE, OPTIONS',
  'access-control-allow-headers': 'content-type',
};

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeListener(server: Server, sockets: Set<Socket>): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    for (const socket of sockets) socket.destroy();
  });
}

interface Captured {
  revision: number;
  body: Buffer;
  headers: IncomingMessage['headers'];
}

function flipBit(bytes: Buffer, at: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[at] ^= 0x01;
  return copy;
}

function errorBody(status: number): string {
  const code = status === 404 ? 'NOT_FOUND' : status === 503 ? 'UNAVAILABLE' : 'INTERNAL';
  return JSON.stringify({ error: { code, message: `injected ${status}` } });
}

/** A key no app is built with: what an attacker signs with. */
const FOREIGN_KEY = loadSigningKey(generateSigningKey());

async function labKey(dataDir: DataDir): Promise<SigningKey> {
  const key = await readKeyFile(dataDir.signingKey);
  if (!key) throw new Error(`the server left no key in ${dataDir.signingKey}`);
  return key;
}

/** The app's backend: issues ES256 JWTs to its users, publishes its JWKS on 127.0.0.1. */
interface JwtBackend {
  verify: RegisterVerifier;
  token(subject: string, expiresInSeconds?: number): Promise<string>;
  close(): Promise<void>;
}

async function startJwtBackend(): Promise<JwtBackend> {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'lab-backend-1', alg: 'ES256', use: 'sig' };
  const server = createServer((req, res) => {
    if (req.url === '/.well-known/jwks.json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk] }));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const port = await listen(server);
  const issuer = `http://127.0.0.1:${port}`;
  const audience = 'localfit-lab-app';
  return {
    verify: jwtVerifier({ jwksUrl: `${issuer}/.well-known/jwks.json`, issuer, audience }),
    async token(subject, expiresInSeconds = 300) {
      const now = Math.floor(Date.now() / 1000);
      // An expired token was issued a minute before it expired.
      const issuedAt = expiresInSeconds > 0 ? now : now + expiresInSeconds - 60;
      return new SignJWT({})
        .setProtectedHeader({ alg: 'ES256', kid: jwk.kid })
        .setSubject(subject)
        .setIssuer(issuer)
        .setAudience(audience)
        .setIssuedAt(issuedAt)
        .setExpirationTime(now + expiresInSeconds)
        .sign(privateKey);
    },
    close: () => closeListener(server, sockets),
  };
}

/** One server and the proxy in front of it. */
class LabInstance {
  manifestMode: ManifestTampering = { kind: 'pass' };
  modelMode: ModelTampering = { kind: 'pass' };
  readonly log: LabRequest[] = [];
  readonly captured: Captured[] = [];
  private readonly proxy: Server;
  private readonly sockets = new Set<Socket>();
  private port = 0;

  server: RunningServer;
  private key: SigningKey;
  private readonly database: Database;
  private readonly launch: (port: number) => Promise<RunningServer>;
  readonly dataDir: DataDir;
  readonly backend: JwtBackend | undefined;
  constructor(
    server: RunningServer,
    key: SigningKey,
    database: Database,
    launch: (port: number) => Promise<RunningServer>,
    dataDir: DataDir,
    backend: JwtBackend | undefined,
  ) {
    this.server = server;
    this.key = key;
    this.database = database;
    this.launch = launch;
    this.dataDir = dataDir;
    this.backend = backend;
    this.proxy = createServer((req, res) => {
      this.handle(req, res).catch((error) => {
        if (!res.headersSent) res.writeHead(502, { ...CORS, 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'INTERNAL', message: String(error) } }));
      });
    });
    this.proxy.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.port = await listen(this.proxy);
  }

  async close(): Promise<void> {
    await closeListener(this.proxy, this.sockets);
    await this.server.close();
    await this.database.close();
    await this.backend?.close();
    await rm(this.dataDir.root, { recursive: true, force: true });
  }

  /** A `rotate-key` step as the operator runs it, then a new server process (same port). */
  async rotate(step: 'prepare' | 'activate'): Promise<PublicKeyResponse> {
    const places = { dataDir: this.dataDir };
    if (step === 'prepare') await prepareNextKey(this.database, places);
    else await activateNextKey(this.database, places);
    const { port } = this.server;
    await this.server.close();
    this.server = await this.launch(port);
    this.key = await labKey(this.dataDir);
    return this.server.publicKey;
  }

  async installs(): Promise<{ id: string; subject: string | null }[]> {
    const { rows } = await this.database.query<{ id: string; subject: string | null }>(
      'select id, subject from installs order by created_at, id',
    );
    return rows;
  }

  /**
   * Every install idle past the server's limit, as if the devices had been away for months.
   * The server process is replaced too: a process caches the installs it authenticated for up
   * to an hour (server/store/installs.ts), which a device away for months never meets; a new
   * process on the same database is the server such a device comes back to.
   */
  async expireInstalls(inactiveDays: number): Promise<number> {
    const { rows } = await this.database.query<{ id: string }>(
      `update installs set last_seen_at = now() - make_interval(days => $1::int)
       returning id`,
      [Math.ceil(inactiveDays) + 1],
    );
    const { port } = this.server;
    await this.server.close();
    this.server = await this.launch(port);
    return rows.length;
  }

  async storedWindows(): Promise<{ installId: string; windowId: string; dropped: number }[]> {
    const { rows } = await this.database.query<{
      install_id: string;
      window_id: string;
      body: { dropped?: number };
    }>('select install_id, window_id, body from metric_windows order by install_id, window_id');
    return rows.map((row) => ({
      installId: row.install_id,
      windowId: row.window_id,
      dropped: row.body.dropped ?? 0,
    }));
  }

  private record(
    req: IncomingMessage,
    path: string,
    status: number,
    tampered: string | null,
    body?: Buffer,
  ) {
    const header = req.headers['if-none-match'];
    this.log.push({
      n: this.log.length + 1,
      method: req.method ?? 'GET',
      path,
      status,
      ifNoneMatch: typeof header === 'string' ? header : null,
      tampered,
      body: body && body.length > 0 ? body.toString('utf8') : null,
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://proxy').pathname;
    if (req.method !== 'OPTIONS' && path === '/v1/events') return this.stream(req, res, path);
    const body = await readBody(req);
    const answer = await this.forward(req, body);
    const headers: Record<string, string | string[] | undefined> = { ...answer.headers };
    delete headers['transfer-encoding'];
    delete headers['content-length'];
    const send = (status: number, out: Buffer | string, tampered: string | null) => {
      res.writeHead(status, headers);
      res.end(out);
      this.record(req, path, status, tampered, body);
    };
    if (req.method === 'OPTIONS') return send(answer.status, answer.body, null);

    if (path === '/v1/manifest') {
      if (answer.status === 200) this.capture(answer.body, answer.headers);
      const mode = this.manifestMode;
      if (mode.kind === 'status') {
        headers['content-type'] = 'application/json';
        delete headers[SIGNATURE_HEADER.toLowerCase()];
        return send(mode.status, errorBody(mode.status), mode.kind);
      }
      if (mode.kind === 'replay') {
        const old =
          mode.revision === undefined
            ? this.captured[0]
            : this.captured.find((c) => c.revision === mode.revision);
        if (!old) throw new Error(`no captured manifest with revision ${mode.revision}`);
        Object.assign(headers, old.headers);
        delete headers['content-length'];
        delete headers['transfer-encoding'];
        return send(200, old.body, mode.kind);
      }
      if (mode.kind === 'signed-body') {
        const bytes = Buffer.from(mode.body, 'utf8');
        headers['content-type'] = 'application/json; charset=utf-8';
        headers.etag = `"${createHash('sha256').update(bytes).digest('hex')}"`;
        headers[SIGNATURE_HEADER.toLowerCase()] = signBytes(this.key, bytes);
        return send(200, bytes, mode.kind);
      }
      if (answer.status === 200 && mode.kind === 'foreign-key') {
        headers[SIGNATURE_HEADER.toLowerCase()] = signBytes(FOREIGN_KEY, answer.body);
        headers[SIGNATURE_KEY_HEADER.toLowerCase()] = keyIdOf(FOREIGN_KEY);
        return send(200, answer.body, mode.kind);
      }
      if (answer.status === 200 && mode.kind !== 'pass') {
        const header = SIGNATURE_HEADER.toLowerCase();
        if (mode.kind === 'strip-signature') delete headers[header];
        if (mode.kind === 'corrupt-signature') {
          const signature = Buffer.from(String(headers[header]), 'base64');
          headers[header] = flipBit(signature, 5).toString('base64');
        }
        const out = mode.kind === 'corrupt-body' ? flipBit(answer.body, 20) : answer.body;
        return send(200, out, mode.kind);
      }
      return send(answer.status, answer.body, null);
    }

    if (path.startsWith('/v1/models/') && req.method === 'GET') {
      const mode = this.modelMode;
      if (mode.kind === 'status') {
        headers['content-type'] = 'application/json';
        return send(mode.status, errorBody(mode.status), mode.kind);
      }
      if (answer.status === 200 && mode.kind === 'stall') {
        headers['content-length'] = String(answer.body.length);
        res.writeHead(200, headers);
        res.write(answer.body.subarray(0, answer.body.length >> 1));
        this.record(req, path, 200, mode.kind);
        return;
      }
      if (answer.status === 200 && mode.kind !== 'pass') {
        let out = answer.body;
        if (mode.kind === 'flip') out = flipBit(out, out.length >> 1);
        if (mode.kind === 'truncate') out = out.subarray(0, out.length >> 1);
        if (mode.kind === 'pad') out = Buffer.concat([out, Buffer.alloc(mode.bytes ?? 1024, 7)]);
        if (mode.kind === 'swap') {
          const other = await modelBytes(this.server.database, mode.sha256);
          if (!other) throw new Error(`the server has no model ${mode.sha256}`);
          out = Buffer.from(other);
        }
        return send(200, out, mode.kind);
      }
    }
    return send(answer.status, answer.body, null);
  }

  private capture(body: Buffer, headers: IncomingMessage['headers']): void {
    const revision = (JSON.parse(body.toString('utf8')) as { revision: number }).revision;
    if (!this.captured.some((c) => c.revision === revision))
      this.captured.push({ revision, body, headers });
  }

  /** Server-sent events pass through as they come: buffering would hold them back. */
  private stream(req: IncomingMessage, res: ServerResponse, path: string): void {
    const target = new URL(this.server.url);
    const upstream = request(
      {
        hostname: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: target.host },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        res.flushHeaders();
        answer.pipe(res);
        this.record(req, path, answer.statusCode ?? 502, null);
      },
    );
    upstream.on('error', () => res.destroy());
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  }

  private forward(req: IncomingMessage, body: Buffer) {
    const target = new URL(this.server.url);
    return new Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }>(
      (resolve, reject) => {
        const upstream = request(
          {
            hostname: target.hostname,
            port: target.port,
            method: req.method,
            path: req.url,
            headers: { ...req.headers, host: target.host },
          },
          (answer) => {
            readBody(answer).then(
              (data) =>
                resolve({ status: answer.statusCode ?? 502, headers: answer.headers, body: data }),
              reject,
            );
          },
        );
        upstream.on('error', reject);
        upstream.end(body);
      },
    );
  }
}

export async function startRolloutLab(): Promise<RolloutLab> {
  const instances = new Map<string, LabInstance>();
  let next = 0;

  const control = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://control');
    const reply = (status: number, value: unknown) => {
      res.writeHead(status, { ...CORS, 'content-type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    try {
      if (req.method === 'OPTIONS') return reply(204, null);
      if (req.method === 'POST' && url.pathname === '/servers') {
        const raw = (await readBody(req)).toString('utf8');
        const options = (raw ? JSON.parse(raw) : {}) as LabServerRequest;
        const appKey = `lab-app-${crypto.randomUUID()}`;
        const adminToken = `lab-admin-${crypto.randomUUID()}`;
        // The lab owns the database, so that a server process can be replaced on it. The
        // signing key is in a data directory of its own, as a server keeps it (the lab reads
        // it to play a server that signs nonsense; rotations replace it).
        const database = await openDatabase({ memory: true });
        const dataDir = await ensureDataDir(await mkdtemp(join(tmpdir(), 'localfit-lab-')));
        const backend = options.registration === 'jwt' ? await startJwtBackend() : undefined;
        const launch = (port: number) =>
          startServer({
            port,
            database,
            dataDir: dataDir.root,
            ...(backend ? { register: { verify: backend.verify } } : {}),
            appKey,
            adminToken,
            logError: () => {},
            ...(options.policy ? { policy: options.policy } : {}),
            ...(options.manifestLifetimeMs
              ? { manifestLifetimeMs: options.manifestLifetimeMs }
              : {}),
          });
        const server = await launch(0).catch(async (error: unknown) => {
          await database.close();
          await backend?.close();
          await rm(dataDir.root, { recursive: true, force: true });
          throw error;
        });
        const instance = new LabInstance(
          server,
          await labKey(dataDir),
          database,
          launch,
          dataDir,
          backend,
        );
        await instance.start();
        const id = String(++next);
        instances.set(id, instance);
        const info: LabServerInfo = {
          id,
          url: instance.url,
          serverUrl: server.url,
          appKey,
          adminToken,
          publicKey: server.publicKey,
        };
        return reply(201, info);
      }
      const match = /^\/servers\/(\d+)(\/[a-z]+)?$/.exec(url.pathname);
      const instance = match ? instances.get(match[1]) : undefined;
      if (!match || !instance)
        return reply(404, { error: `no route ${req.method} ${url.pathname}` });
      const route = match[2] ?? '';
      if (req.method === 'DELETE' && route === '') {
        instances.delete(match[1]);
        await instance.close();
        return reply(200, { closed: match[1] });
      }
      if (req.method === 'POST' && route === '/tamper') {
        const tampering = JSON.parse((await readBody(req)).toString('utf8')) as Tampering;
        if (tampering.manifest) instance.manifestMode = tampering.manifest;
        if (tampering.model) instance.modelMode = tampering.model;
        return reply(200, { since: instance.log.length });
      }
      if (req.method === 'GET' && route === '/log') {
        const since = Number(url.searchParams.get('since') ?? 0);
        return reply(
          200,
          instance.log.filter((entry) => entry.n > since),
        );
      }
      if (req.method === 'POST' && route === '/settle') {
        await instance.server.autopilot.idle();
        return reply(200, { settled: true });
      }
      if (req.method === 'POST' && route === '/expire') {
        return reply(200, { expired: await instance.expireInstalls(INACTIVE_INSTALL_DAYS) });
      }
      if (req.method === 'POST' && route === '/rotate') {
        const { step } = JSON.parse((await readBody(req)).toString('utf8')) as { step: string };
        if (step !== 'prepare' && step !== 'activate')
          return reply(400, { error: `step must be prepare or activate, not ${step}` });
        return reply(200, { publicKey: await instance.rotate(step) });
      }
      if (req.method === 'POST' && route === '/token') {
        if (!instance.backend) return reply(400, { error: "started without registration: 'jwt'" });
        const { subject, expiresInSeconds } = JSON.parse(
          (await readBody(req)).toString('utf8'),
        ) as { subject: string; expiresInSeconds?: number };
        return reply(200, { token: await instance.backend.token(subject, expiresInSeconds) });
      }
      if (req.method === 'GET' && route === '/installs') {
        return reply(200, await instance.installs());
      }
      if (req.method === 'GET' && route === '/stored') {
        return reply(200, await instance.storedWindows());
      }
      if (req.method === 'GET' && route === '/captured')
        return reply(
          200,
          instance.captured.map((c) => c.revision),
        );
      return reply(404, { error: `no route ${req.method} ${url.pathname}` });
    } catch (error) {
      // A policy startServer refuses is the caller's mistake, not the lab's.
      return reply(error instanceof PolicyConfigError ? 400 : 500, { error: String(error) });
    }
  });
  const sockets = new Set<Socket>();
  control.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const port = await listen(control);
  return {
    controlUrl: `http://127.0.0.1:${port}`,
    async close() {
      await Promise.all([...instances.values()].map((instance) => instance.close()));
      instances.clear();
      await closeListener(control, sockets);
    },
  };
}
