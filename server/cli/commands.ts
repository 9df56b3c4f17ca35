/**
 * The server's command line (`npm run server -- <command>`). `runCli` takes its arguments,
 * environment and output explicitly, so tests run it in-process.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import type { PublishRequest } from '../admin_types.ts';
import { DEFAULT_DATA_DIR } from '../data_dir.ts';
import { type RunningServer, startServer } from '../start.ts';
import { type AdminClient, AdminError, connectAdmin } from './admin_client.ts';
import { flag, numberFlag, onlyFlags, type ParsedArgs, parseArgs, UsageError } from './args.ts';
import { formatStatus } from './status_table.ts';

export const USAGE = `Usage: npm run server -- <command> [options]

Commands:
  serve [--port N] [--host H] [--data DIR]
      Start the sync server (default 127.0.0.1:8787). Storage: PostgreSQL when DATABASE_URL
      is set, else PGlite in DIR/pglite. LOCALFIT_ADMIN_TOKEN and LOCALFIT_APP_KEY set the
      admin token and app key; otherwise they are made on first start (the admin token is
      written to DIR/admin-token). Prints the URL, the public key and the app key.
  status
      Per-version fleet metrics (devices, samples, logloss, accuracy, AUC, RMSE, CTR, drift
      alerts, dropped windows, paired comparison) and the recent admin actions.
  publish <model.onnx | version-dir> --weight W [--semver X] [--why TEXT]
          [--feature-spec FILE] [--head FILE]
      Upload a model and stage it at weight W (0..1). The feature spec defaults to the one in
      the model's metadata. A version-dir holds model.onnx and optionally feature_spec.json,
      head.json and version.json ({ "semver": … }).
  ramp <version> <weight> [--why TEXT]
  promote <version> [--why TEXT]
  rollback <version> [--why TEXT]
      <version> is an id (v3) or a semver (1.2.0).

Admin commands talk to the running server (found through DIR/server.json, or --server URL /
LOCALFIT_SERVER; admin token from LOCALFIT_ADMIN_TOKEN or DIR/admin-token), or, when none is
running, to the database directly (DATABASE_URL, or DIR/pglite).

Common options: --data DIR (default ${DEFAULT_DATA_DIR}), --server URL, --actor NAME (who, for
the audit log; default: LOCALFIT_ACTOR, else your user name).`;

export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
  env: Record<string, string | undefined>;
  /** `serve` runs until this resolves (the process entry resolves it on SIGINT/SIGTERM). */
  untilStopped?: Promise<void>;
  /** Called once `serve` listens (tests use it to reach the server). */
  onServing?: (server: RunningServer) => void;
}

const COMMON = ['data', 'server', 'actor'];

function actorFrom(args: ParsedArgs, io: CliIo): string {
  const named = flag(args, 'actor') || io.env.LOCALFIT_ACTOR || io.env.USER;
  if (named) return named.slice(0, 100);
  try {
    return userInfo().username.slice(0, 100) || 'admin';
  } catch {
    return 'admin';
  }
}

function dataDirFrom(args: ParsedArgs): string {
  return flag(args, 'data') ?? DEFAULT_DATA_DIR;
}

async function withAdmin<T>(
  args: ParsedArgs,
  io: CliIo,
  work: (client: AdminClient) => Promise<T>,
) {
  const client = await connectAdmin({
    dataDir: dataDirFrom(args),
    server: flag(args, 'server') ?? io.env.LOCALFIT_SERVER,
    adminToken: io.env.LOCALFIT_ADMIN_TOKEN,
    databaseUrl: io.env.DATABASE_URL,
  });
  try {
    return await work(client);
  } finally {
    await client.close();
  }
}

async function serve(args: ParsedArgs, io: CliIo): Promise<number> {
  onlyFlags(args, ['port', 'host', 'data']);
  const port = numberFlag(args, 'port') ?? 8787;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError('--port must be 0..65535');
  const databaseUrl = io.env.DATABASE_URL || undefined;
  const server = await startServer({
    port,
    host: flag(args, 'host') ?? '127.0.0.1',
    dataDir: dataDirFrom(args),
    databaseUrl,
    adminToken: io.env.LOCALFIT_ADMIN_TOKEN || undefined,
    appKey: io.env.LOCALFIT_APP_KEY || undefined,
  });
  const tokenNote = {
    configured: 'from LOCALFIT_ADMIN_TOKEN',
    generated: `generated now, saved in ${server.adminTokenFile ?? '(nowhere: no data dir)'}`,
    file: `in ${server.adminTokenFile}`,
    unknown:
      'made on an earlier start; its file is gone — set LOCALFIT_ADMIN_TOKEN to choose a new one',
  }[server.adminTokenSource];
  io.out(`localfit sync server listening on ${server.url}`);
  io.out(
    `  storage      ${server.storage === 'postgres' ? 'PostgreSQL (DATABASE_URL)' : `PGlite in ${join(server.dataDir ?? '', 'pglite')}`}`,
  );
  io.out(`  public key   ${server.publicKey.raw}  (Ed25519, raw base64; also GET /v1/public-key)`);
  io.out(`  app key      ${server.appKey}`);
  io.out(`  admin token  ${tokenNote}`);
  io.onServing?.(server);
  try {
    await (io.untilStopped ?? new Promise<void>(() => {}));
  } finally {
    await server.close();
  }
  return 0;
}

async function status(args: ParsedArgs, io: CliIo): Promise<number> {
  onlyFlags(args, COMMON);
  await withAdmin(args, io, async (client) => {
    io.out(`localfit status (${client.target})`);
    io.out('');
    io.out(formatStatus(await client.status()));
  });
  return 0;
}

async function readJsonFile(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${path}: ${(error as Error).message}`);
  }
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw new Error('not a JSON object');
    return value as Record<string, unknown>;
  } catch (error) {
    throw new UsageError(`${path}: ${(error as Error).message}`);
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** The model bytes and optional extras from a model file or a version directory. */
async function readVersionSource(source: string) {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(source);
  } catch {
    throw new UsageError(`no such file or directory: ${source}`);
  }
  if (!info.isDirectory()) return { modelPath: source } as const;
  const onnx = (await readdir(source)).filter((name) => name.endsWith('.onnx'));
  const modelName = onnx.includes('model.onnx') ? 'model.onnx' : onnx.length === 1 ? onnx[0] : null;
  if (!modelName)
    throw new UsageError(`${source} must hold model.onnx (or exactly one .onnx file)`);
  const optionalJson = async (name: string) =>
    (await exists(join(source, name))) ? readJsonFile(join(source, name)) : undefined;
  const version = await optionalJson('version.json');
  return {
    modelPath: join(source, modelName),
    featureSpec: await optionalJson('feature_spec.json'),
    head: await optionalJson('head.json'),
    semver: typeof version?.semver === 'string' ? version.semver : undefined,
  } as const;
}

async function publish(args: ParsedArgs, io: CliIo): Promise<number> {
  onlyFlags(args, [...COMMON, 'weight', 'semver', 'why', 'feature-spec', 'head']);
  const [source] = args.positionals;
  if (!source || args.positionals.length > 1)
    throw new UsageError('publish needs one model file or version directory');
  const weight = numberFlag(args, 'weight');
  if (weight === undefined) throw new UsageError('publish needs --weight W (0..1)');
  const found = await readVersionSource(source);
  const bytes = new Uint8Array(await readFile(found.modelPath));
  const specFile = flag(args, 'feature-spec');
  const headFile = flag(args, 'head');
  const featureSpec = specFile ? await readJsonFile(specFile) : found.featureSpec;
  const head = headFile ? await readJsonFile(headFile) : found.head;
  const actor = actorFrom(args, io);
  const semver = flag(args, 'semver') ?? found.semver;
  const why = flag(args, 'why');
  await withAdmin(args, io, async (client) => {
    const upload = await client.upload(bytes, actor);
    const request: PublishRequest = {
      model: { sha256: upload.sha256 },
      weight,
      actor,
      ...(semver ? { semver } : {}),
      ...(why ? { why } : {}),
      ...(featureSpec ? { featureSpec } : {}),
      ...(head ? { head } : {}),
    };
    const version = await client.publish(request);
    io.out(
      `published ${version.id} (${version.semver}) as staged at weight ${version.weight} — ${upload.bytes} bytes, sha256 ${upload.sha256}`,
    );
  });
  return 0;
}

async function ramp(args: ParsedArgs, io: CliIo): Promise<number> {
  onlyFlags(args, [...COMMON, 'why']);
  const [ref, weightText, ...rest] = args.positionals;
  if (!ref || weightText === undefined || rest.length > 0)
    throw new UsageError('usage: ramp <version> <weight>');
  const weight = Number(weightText);
  if (weightText.trim() === '' || !Number.isFinite(weight))
    throw new UsageError(`weight must be a number, not ${weightText}`);
  const why = flag(args, 'why');
  await withAdmin(args, io, async (client) => {
    const version = await client.ramp(ref, {
      weight,
      actor: actorFrom(args, io),
      ...(why ? { why } : {}),
    });
    io.out(`${version.id} (${version.semver}) now staged at weight ${version.weight}`);
  });
  return 0;
}

function transition(action: 'promote' | 'rollback') {
  return async (args: ParsedArgs, io: CliIo): Promise<number> => {
    onlyFlags(args, [...COMMON, 'why']);
    const [ref, ...rest] = args.positionals;
    if (!ref || rest.length > 0) throw new UsageError(`usage: ${action} <version>`);
    const why = flag(args, 'why');
    await withAdmin(args, io, async (client) => {
      const version = await client[action](ref, {
        actor: actorFrom(args, io),
        ...(why ? { why } : {}),
      });
      io.out(`${version.id} (${version.semver}) is now ${version.status}`);
    });
    return 0;
  };
}

const COMMANDS: Record<string, (args: ParsedArgs, io: CliIo) => Promise<number>> = {
  serve,
  status,
  publish,
  ramp,
  promote: transition('promote'),
  rollback: transition('rollback'),
};

/** Runs one command; returns the exit code (0 ok, 1 refused or failed, 2 usage). */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    io.out(USAGE);
    return command ? 0 : 2;
  }
  const run = COMMANDS[command];
  if (!run) {
    io.err(`unknown command ${command}\n\n${USAGE}`);
    return 2;
  }
  try {
    return await run(parseArgs(rest), io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`${error.message}\n(see: npm run server -- help)`);
      return 2;
    }
    if (error instanceof AdminError) {
      io.err(`refused: ${error.code}: ${error.message}`);
      return 1;
    }
    io.err(`error: ${(error as Error).message ?? String(error)}`);
    return 1;
  }
}
