/**
 * `npm start` as a function: builds the demo (optional), starts the reference sync server with
 * its embedded database, makes sure it has a production version (the demo model, so devices
 * adopt it without downloading it), and serves the built demo and the `/v1` API from one
 * origin, so the service worker and the learner's sync need no CORS. The demo's front server
 * forwards `/v1/*` to the sync server (streams included: SSE, model bytes).
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer, request as forward } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { type RunningServer, type ServerOptions, startServer } from '../start.ts';
import { buildDemo, DEFAULT_OUT_DIR, REPO_ROOT } from './build.ts';
import {
  DEMO_CONFIG_PATH,
  type DemoConfig,
  VARIANT_HEAD_PATH,
  VARIANT_MODEL_PATH,
} from './config.ts';
import { ISOLATION_HEADERS, serveStatic } from './static.ts';
import { type DemoVariant, demoVariant } from './variant.ts';

export interface LaunchOptions {
  /** Port of the demo (and its /v1 API); 0 picks a free one. Default 5173. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** The sync server's data directory (default `.localfit-server`); ignored with `memory`. */
  dataDir?: string;
  memory?: boolean;
  /** Build the page and the service worker first (default true). */
  build?: boolean;
  /** Where the build goes / is read from (default `dist-demo/`). */
  outDir?: string;
  /** Passed to the sync server (tests use it for tokens, policy, …). */
  server?: Omit<ServerOptions, 'port' | 'host' | 'dataDir' | 'memory'>;
  /** Progress lines; default: none. */
  log?: (line: string) => void;
}

export interface RunningDemo {
  /** The demo's URL (and the sync server's, for devices). */
  url: string;
  appKey: string;
  adminToken: string;
  publicKey: string;
  /** The sync server behind the demo (its own loopback port, for tests and the CLI). */
  server: RunningServer;
  variant: DemoVariant;
  close(): Promise<void>;
}

const DEMO_VERSION_DIR = join(REPO_ROOT, 'public/models/demo');

function isLoopback(address: string | undefined): boolean {
  return (
    address === '127.0.0.1' ||
    address === '::1' ||
    address === '::ffff:127.0.0.1' ||
    (address?.startsWith('127.') ?? false)
  );
}

async function admin(
  server: RunningServer,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  const binary = body instanceof Uint8Array;
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      'localfit-actor': 'npm start',
      ...(body === undefined
        ? {}
        : { 'content-type': binary ? 'application/octet-stream' : 'application/json' }),
    },
    body:
      body === undefined
        ? undefined
        : binary
          ? (body as Uint8Array<ArrayBuffer>)
          : JSON.stringify(body),
  });
  if (!response.ok)
    throw new Error(`${method} ${path}: HTTP ${response.status} ${await response.text()}`);
  return response.json();
}

/** Publishes and promotes the demo model when the server has no production version yet. */
async function ensureProduction(server: RunningServer, token: string): Promise<string> {
  const { versions } = (await admin(server, token, 'GET', '/v1/admin/versions')) as {
    versions: { id: string; status: string }[];
  };
  const current = versions.find((version) => version.status === 'production');
  if (current) return current.id;
  const version = JSON.parse(await readFile(join(DEMO_VERSION_DIR, 'version.json'), 'utf8')) as {
    model: { sha256: string };
    semver: string;
  };
  const bytes = new Uint8Array(await readFile(join(DEMO_VERSION_DIR, 'model.onnx')));
  const head = JSON.parse(await readFile(join(DEMO_VERSION_DIR, 'head.json'), 'utf8'));
  await admin(server, token, 'PUT', `/v1/admin/models/${version.model.sha256}`, bytes);
  const published = (await admin(server, token, 'POST', '/v1/admin/versions', {
    model: { sha256: version.model.sha256 },
    semver: version.semver,
    head,
    weight: 0,
    why: 'the demo model, as the first production version',
  })) as { id: string };
  await admin(server, token, 'POST', `/v1/admin/versions/${published.id}/promote`, {
    why: 'the demo model, as the first production version',
  });
  return published.id;
}

/** Forwards one request to the sync server, streaming both ways. */
function proxy(target: URL, request: IncomingMessage, response: ServerResponse): void {
  const upstream = forward(
    {
      hostname: target.hostname,
      port: target.port,
      method: request.method,
      path: request.url,
      headers: { ...request.headers, host: target.host },
    },
    (reply) => {
      response.writeHead(reply.statusCode ?? 502, reply.headers);
      reply.pipe(response);
    },
  );
  upstream.on('error', () => {
    if (!response.headersSent) response.writeHead(502, { 'content-type': 'application/json' });
    response.end(
      JSON.stringify({ error: { code: 'UNAVAILABLE', message: 'sync server unreachable' } }),
    );
  });
  // An event stream closed by the page closes its upstream too.
  response.on('close', () => upstream.destroy());
  request.pipe(upstream);
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

export async function launchDemo(options: LaunchOptions = {}): Promise<RunningDemo> {
  const log = options.log ?? (() => {});
  const host = options.host ?? '127.0.0.1';
  const outDir = options.outDir ?? DEFAULT_OUT_DIR;
  if (options.build ?? true) {
    log('building the demo and its service worker…');
    const built = await buildDemo(outDir);
    log(
      `built: ${built.precached} files precached (${(built.precachedBytes / 1e6).toFixed(1)} MB)`,
    );
  }
  const server = await startServer({
    ...options.server,
    port: 0,
    host: '127.0.0.1',
    ...(options.memory ? { memory: true } : { dataDir: options.dataDir }),
  });
  const sockets = new Set<Socket>();
  let front: Server | undefined;
  try {
    const adminToken = options.server?.adminToken ?? server.adminToken;
    if (!adminToken)
      throw new Error(
        `the admin token is not known to this process: pass it, or read it from ${server.adminTokenFile ?? 'the data directory'}`,
      );
    const production = await ensureProduction(server, adminToken);
    log(`production version: ${production}`);
    log('preparing the version the operator panel can stage…');
    const variant = await demoVariant(server.dataDir);
    const variantHead = JSON.stringify(variant.head);
    const config: DemoConfig = {
      format: 'localfit.demo-config/1',
      syncUrl: '',
      appKey: server.appKey,
      publicKey: server.publicKey.raw,
      adminToken,
      variant: {
        semver: variant.semver,
        sha256: variant.sha256,
        model: VARIANT_MODEL_PATH,
        head: VARIANT_HEAD_PATH,
        trainedOn: variant.trainedOn,
      },
    };
    const target = new URL(server.url);
    front = createServer((request, response) => {
      const { pathname } = new URL(request.url ?? '/', 'http://localhost');
      if (pathname.startsWith('/v1/')) return proxy(target, request, response);
      const send = (type: string, body: string | Uint8Array) => {
        response.writeHead(200, {
          ...ISOLATION_HEADERS,
          'content-type': type,
          'cache-control': 'no-store',
        });
        response.end(body);
      };
      const local = isLoopback(request.socket.remoteAddress);
      if (pathname === DEMO_CONFIG_PATH && local)
        return send('application/json', JSON.stringify(config));
      if (pathname === VARIANT_MODEL_PATH && local)
        return send('application/octet-stream', variant.bytes);
      if (pathname === VARIANT_HEAD_PATH && local) return send('application/json', variantHead);
      void serveStatic(outDir, request, response, pathname).then((served) => {
        if (served) return;
        response.writeHead(404, { ...ISOLATION_HEADERS, 'content-type': 'text/plain' });
        response.end('not found');
      });
    });
    front.on('connection', (socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    const port = await listen(front, options.port ?? 5173, host);
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    const listening = front;
    return {
      url,
      appKey: server.appKey,
      adminToken,
      publicKey: server.publicKey.raw,
      server,
      variant,
      async close() {
        await new Promise<void>((resolve) => {
          listening.close(() => resolve());
          for (const socket of sockets) socket.destroy();
        });
        await server.close();
      },
    };
  } catch (error) {
    front?.close();
    await server.close();
    throw error;
  }
}
