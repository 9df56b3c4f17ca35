/**
 * The server's command line (`npm run server -- <command>`). `runCli` takes its arguments,
 * environment and output explicitly, so tests run it in-process.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import type { OpenRoundRequest, PrivacyBudget, PublishRequest } from '../../src/protocol/admin.ts';
import { manifestKeyId } from '../../src/protocol/index.ts';
import { DEFAULT_DATA_DIR, ensureDataDir, lockDataDir } from '../data_dir.ts';
import { openDatabase } from '../db/open.ts';
import { FederatedConfigError, resolveFederated } from '../federated/rounds.ts';
import { ProxyConfigError } from '../http/client_address.ts';
import { activateNextKey, prepareNextKey, RotationError } from '../key_rotation.ts';
import { NEXT_SIGNING_KEY_ENV, SIGNING_KEY_ENV, SigningKeyError } from '../key_store.ts';
import { PolicyConfigError, type PolicyOptions } from '../rollout/policy.ts';
import { resolveSchedulerConfig } from '../scheduler/config.ts';
import type { SchedulerOptions } from '../scheduler/start.ts';
import { type RunningServer, startServer } from '../start.ts';
import { ValidationError } from '../validate.ts';
import { type AdminClient, AdminError, connectAdmin } from './admin_client.ts';
import { flag, numberFlag, onlyFlags, type ParsedArgs, parseArgs, UsageError } from './args.ts';
import { exportModels } from './export_models.ts';
import { formatFederated, formatRound } from './federated_table.ts';
import { formatJobs, formatRetraining } from './jobs_table.ts';
import { formatStatus, formatVerdicts } from './status_table.ts';

export const USAGE = `Usage: npm run server -- <command> [options]

Commands:
  serve [--port N] [--host H] [--data DIR] [--trust-proxy A,B] [--inactive-install-days N]
        [--window-retention-days N] [--keep-alive-seconds N] [--shutdown-grace-seconds N]
        [--model-base-url URL] [policy options]
      Start the sync server (default 127.0.0.1:8787). Storage: PostgreSQL when DATABASE_URL
      is set, else PGlite in DIR/pglite. --trust-proxy: proxies (addresses or CIDR ranges)
      whose X-Forwarded-For is believed; --inactive-install-days: idle installs expire
      (default 180); --window-retention-days N (or LOCALFIT_WINDOW_RETENTION_DAYS): raw
      metric windows are kept N days (default 30; totals, rollups and window ids are kept
      for good); --keep-alive-seconds: idle kept-alive connections stay open this long
      (default 65, above a load balancer's idle timeout); --shutdown-grace-seconds: on
      SIGTERM, requests in flight get this long to finish (default 10; server/README.md,
      "Running replicas in production"); --model-base-url (or LOCALFIT_MODEL_BASE_URL): the
      manifest sends devices to URL/<sha256> for models, e.g. a CDN (server/README.md "Model
      bytes and a CDN"). LOCALFIT_ADMIN_TOKEN and LOCALFIT_APP_KEY set the
      admin token and app key; otherwise they are made on first start (the admin token is
      written to DIR/admin-token). The manifest signing key: LOCALFIT_SIGNING_KEY (base64
      PKCS#8), else DIR/signing-key (mode 0600; made on a fresh database; a looser mode is
      refused). Prints the URL, the public key and the app key.
      Rollout policy (the autopilot that promotes, rolls back and ramps staged versions from
      the devices' paired comparisons; server/rollout/policy.ts):
        --autopilot on|off        act on verdicts (default on; off: status still shows them)
        --min-devices N           devices with paired comparisons needed (default 5)
        --min-samples N           paired outcomes needed (default 1000)
        --alpha X                 confidence sequence error probability (default 0.05)
        --promote-margin X        promote when upper bound < -X (default 0)
        --rollback-margin X       roll back when lower bound > X (default 0)
        --guardrail-devices N     roll back once N devices rolled back locally (default 3)
        --ramp-steps W,W,...      e.g. 0.05,0.25,0.5,1 (default: never ramp)
        --ramp-margin X           ramp when upper bound < X (default 0.01)
      Federated rounds: --dp-epsilon E --dp-delta D, the privacy budget every aggregated
        round together may spend (default LOCALFIT_DP_EPSILON / LOCALFIT_DP_DELTA, else 8, 1e-5)
      Retraining (server/scheduler/, server/README.md "Retraining"):
        --scheduler FILE          JSON: { "schedules": [...], "trainingData": DIR, ... }
        --training-data DIR       MovieLens-format folder the default trainer learns from
  federated open <version> --clip C --min-clients N [--min-outcomes K] [--sampling-rate Q]
            [--noise-multiplier Z] [--deadline ISO | --duration 1h] [--why TEXT]
  federated status
  federated close <round> [--cancel] [--why TEXT]
      Federated rounds (server/README.md "Federated rounds"): open announces a round for a
      live version with a head in the manifest (devices serving it send one clipped head
      delta each; default noise multiplier: the one that fits 10 such rounds in the budget;
      default duration 1d); close averages the contributions with Gaussian noise and stages
      the result at weight 0.1 (refused when there are fewer than N or the privacy budget
      would be exceeded), or with --cancel ends the round unused; a round past its deadline
      is aggregated, or expired, by the server. status lists the rounds and the budget spent.
      The budget (ε, δ): serve --dp-epsilon E --dp-delta D, or LOCALFIT_DP_EPSILON and
      LOCALFIT_DP_DELTA (default 8 and 1e-5); give the CLI the same when it works on the
      database directly.
  rotate-key prepare|activate [--data DIR]
      Rotate the manifest signing key (server/README.md "Rotating the signing key"): prepare
      makes the next key, in DIR/signing-key.next (or takes LOCALFIT_NEXT_SIGNING_KEY); servers
      publish it, still signing with the current one. Once apps built with both keys are out,
      activate makes it sign (DIR/signing-key.next replaces DIR/signing-key). Works on the
      database directly (DATABASE_URL or DIR/pglite; stop a PGlite server first); restart
      servers after each step.
  export-models <dir> [--data DIR]
      Write every stored model to <dir>/<sha256> (hashed on the way; files already right are
      kept), to upload to the bucket --model-base-url points at. On the database directly
      (DATABASE_URL or DIR/pglite; stop a PGlite server first).
  status
      Per-version fleet metrics (devices, samples, logloss, accuracy, AUC, RMSE, CTR, drift
      alerts, dropped windows, paired comparison), the rollout policy's reading and verdict
      per staged version, device events (staged, refused, rolled back locally, promoted) and
      the recent admin actions, then the retraining schedules (next due, last run, last
      decision) and the recent retraining jobs.
  jobs [--limit N] [--model M]
      Retraining jobs, newest first: state, progress, tries, and what each decided.
  autopilot <version> on|off [--why TEXT]
      Let the rollout policy act on this version, or not (admin actions always work).
  evaluate [--dry-run]
      Run the rollout policy now and print its verdicts (applied unless --dry-run).
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
    budget: budgetFrom(args, io),
  });
  try {
    return await work(client);
  } finally {
    await client.close();
  }
}

const POLICY_FLAGS = [
  'autopilot',
  'min-devices',
  'min-samples',
  'alpha',
  'promote-margin',
  'rollback-margin',
  'guardrail-devices',
  'ramp-steps',
  'ramp-margin',
];

function onOff(value: string | undefined, name: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === 'on') return true;
  if (value === 'off') return false;
  throw new UsageError(`--${name} must be on or off, not ${value}`);
}

function policyFrom(args: ParsedArgs): PolicyOptions {
  const steps = flag(args, 'ramp-steps');
  const policy: PolicyOptions = {
    enabled: onOff(flag(args, 'autopilot'), 'autopilot'),
    minDevices: numberFlag(args, 'min-devices'),
    minSamples: numberFlag(args, 'min-samples'),
    alpha: numberFlag(args, 'alpha'),
    promoteMargin: numberFlag(args, 'promote-margin'),
    rollbackMargin: numberFlag(args, 'rollback-margin'),
    guardrailDevices: numberFlag(args, 'guardrail-devices'),
    rampMargin: numberFlag(args, 'ramp-margin'),
    rampSteps:
      steps === undefined
        ? undefined
        : steps.split(',').map((part) => {
            const weight = Number(part);
            if (part.trim() === '' || !Number.isFinite(weight))
              throw new UsageError(
                `--ramp-steps must be weights like 0.05,0.25,0.5,1, not ${steps}`,
              );
            return weight;
          }),
  };
  return Object.fromEntries(
    Object.entries(policy).filter(([, value]) => value !== undefined),
  ) as PolicyOptions;
}

/** The privacy budget: --dp-epsilon / --dp-delta, else LOCALFIT_DP_EPSILON / _DELTA. */
function budgetFrom(args: ParsedArgs, io: CliIo): Partial<PrivacyBudget> {
  const read = (name: string, env: string) => {
    const fromFlag = args.flags.has(name) ? numberFlag(args, name) : undefined;
    if (fromFlag !== undefined) return fromFlag;
    const text = io.env[env];
    if (text === undefined || text === '') return undefined;
    const value = Number(text);
    if (!Number.isFinite(value)) throw new UsageError(`${env} must be a number, not ${text}`);
    return value;
  };
  const epsilon = read('dp-epsilon', 'LOCALFIT_DP_EPSILON');
  const delta = read('dp-delta', 'LOCALFIT_DP_DELTA');
  const budget: Partial<PrivacyBudget> = {
    ...(epsilon !== undefined ? { epsilon } : {}),
    ...(delta !== undefined ? { delta } : {}),
  };
  try {
    resolveFederated({ budget });
  } catch (error) {
    if (error instanceof FederatedConfigError) throw new UsageError(error.message);
    throw error;
  }
  return budget;
}

async function serve(args: ParsedArgs, io: CliIo): Promise<number> {
  onlyFlags(args, [
    'dp-epsilon',
    'dp-delta',
    'port',
    'host',
    'data',
    'scheduler',
    'training-data',
    'trust-proxy',
    'inactive-install-days',
    'window-retention-days',
    'keep-alive-seconds',
    'shutdown-grace-seconds',
    'model-base-url',
    ...POLICY_FLAGS,
  ]);
  const modelBaseUrl =
    flag(args, 'model-base-url') ?? (io.env.LOCALFIT_MODEL_BASE_URL || undefined);
  const trustProxy = flag(args, 'trust-proxy')
    ?.split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  const inactiveInstallDays = numberFlag(args, 'inactive-install-days');
  const retentionEnv = io.env.LOCALFIT_WINDOW_RETENTION_DAYS;
  const windowRetentionDays =
    numberFlag(args, 'window-retention-days') ?? (retentionEnv ? Number(retentionEnv) : undefined);
  if (
    windowRetentionDays !== undefined &&
    !(Number.isInteger(windowRetentionDays) && windowRetentionDays >= 1)
  )
    throw new UsageError('--window-retention-days must be an integer of at least 1');
  const keepAlive = numberFlag(args, 'keep-alive-seconds');
  if (keepAlive !== undefined && !(keepAlive > 0))
    throw new UsageError('--keep-alive-seconds must be a positive number');
  const grace = numberFlag(args, 'shutdown-grace-seconds');
  if (grace !== undefined && !(grace >= 0))
    throw new UsageError('--shutdown-grace-seconds must be a number of at least 0');
  const scheduler = await schedulerFrom(args);
  const port = numberFlag(args, 'port') ?? 8787;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError('--port must be 0..65535');
  const databaseUrl = io.env.DATABASE_URL || undefined;
  let server: RunningServer;
  try {
    server = await startServer({
      port,
      host: flag(args, 'host') ?? '127.0.0.1',
      dataDir: dataDirFrom(args),
      databaseUrl,
      adminToken: io.env.LOCALFIT_ADMIN_TOKEN || undefined,
      appKey: io.env.LOCALFIT_APP_KEY || undefined,
      signingKey: io.env[SIGNING_KEY_ENV] || undefined,
      policy: policyFrom(args),
      federated: { budget: budgetFrom(args, io) },
      ...(trustProxy ? { trustProxy } : {}),
      ...(inactiveInstallDays !== undefined ? { inactiveInstallDays } : {}),
      ...(windowRetentionDays !== undefined ? { windowRetentionDays } : {}),
      ...(keepAlive !== undefined ? { keepAliveTimeoutMs: keepAlive * 1000 } : {}),
      ...(grace !== undefined ? { shutdownGraceMs: grace * 1000 } : {}),
      ...(modelBaseUrl !== undefined ? { modelBaseUrl } : {}),
      ...(scheduler ? { scheduler } : {}),
    });
  } catch (error) {
    if (error instanceof PolicyConfigError || error instanceof ProxyConfigError)
      throw new UsageError(error.message);
    if (error instanceof RangeError) throw new UsageError(error.message);
    if (error instanceof ValidationError)
      throw new UsageError(`scheduler configuration: ${error.message}`);
    throw error;
  }
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
  const keyNote = {
    configured: `from ${SIGNING_KEY_ENV}`,
    file: `in ${server.signingKeyFile}`,
    generated: `made now, saved in ${server.signingKeyFile} — back it up, keep it private`,
    memory: 'in memory only',
  }[server.signingKeySource];
  io.out(`  signing key  ${server.publicKey.keyId}  ${keyNote}`);
  io.out(`  app key      ${server.appKey}`);
  io.out(`  admin token  ${tokenNote}`);
  const policy = server.autopilot.policy;
  io.out(
    `  autopilot    ${policy.enabled ? 'on' : 'off'}: ≥${policy.minDevices} devices, ≥${policy.minSamples} paired outcomes, alpha ${policy.alpha}, ramp steps ${policy.rampSteps.length > 0 ? policy.rampSteps.join(' → ') : 'none'}`,
  );
  for (const line of server.scheduler?.describe() ?? []) io.out(`  retraining   ${line}`);
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
    io.out('');
    io.out(formatRetraining(await client.jobs({ limit: 10 })));
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

async function autopilot(args: ParsedArgs, io: CliIo): Promise<number> {
  onlyFlags(args, [...COMMON, 'why']);
  const [ref, state, ...rest] = args.positionals;
  const enabled = state === 'on' ? true : state === 'off' ? false : undefined;
  if (!ref || enabled === undefined || rest.length > 0)
    throw new UsageError('usage: autopilot <version> on|off');
  const why = flag(args, 'why');
  await withAdmin(args, io, async (client) => {
    const version = await client.autopilot(ref, {
      enabled,
      actor: actorFrom(args, io),
      ...(why ? { why } : {}),
    });
    io.out(`${version.id} (${version.semver}): autopilot ${version.autopilot ? 'on' : 'off'}`);
  });
  return 0;
}

async function evaluate(args: ParsedArgs, io: CliIo): Promise<number> {
  onlyFlags(args, [...COMMON, 'dry-run']);
  if (args.positionals.length > 0) throw new UsageError('usage: evaluate [--dry-run]');
  const dryRun = args.flags.get('dry-run') === true;
  await withAdmin(args, io, async (client) => {
    io.out(formatVerdicts(await client.evaluate(dryRun)));
  });
  return 0;
}

/** `--scheduler FILE` (JSON) and `--training-data DIR` (overrides the file's trainingData). */
async function schedulerFrom(args: ParsedArgs): Promise<SchedulerOptions | undefined> {
  const file = flag(args, 'scheduler');
  const data = flag(args, 'training-data');
  if (!file) {
    if (data) throw new UsageError('--training-data needs --scheduler FILE (the schedules)');
    return undefined;
  }
  const config = (await readJsonFile(file)) as unknown as SchedulerOptions;
  const options = data ? { ...config, trainingData: data } : config;
  // Checked before anything starts, so a typo costs no half-started server.
  try {
    resolveSchedulerConfig(options);
  } catch (error) {
    if (error instanceof ValidationError) throw new UsageError(`${file}: ${error.message}`);
    throw error;
  }
  return options;
}

async function jobs(args: ParsedArgs, io: CliIo): Promise<number> {
  onlyFlags(args, [...COMMON, 'limit', 'model']);
  if (args.positionals.length > 0) throw new UsageError('usage: jobs [--limit N] [--model M]');
  const limit = numberFlag(args, 'limit') ?? 20;
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
    throw new UsageError('--limit must be an integer from 1 to 1000');
  const model = flag(args, 'model');
  await withAdmin(args, io, async (client) => {
    io.out(formatJobs((await client.jobs({ limit, ...(model ? { model } : {}) })).jobs));
  });
  return 0;
}

async function exportModelsCommand(args: ParsedArgs, io: CliIo): Promise<number> {
  onlyFlags(args, ['data']);
  const [dir, ...rest] = args.positionals;
  if (!dir || rest.length > 0) throw new UsageError('usage: export-models <dir> [--data DIR]');
  const databaseUrl = io.env.DATABASE_URL || undefined;
  let release: (() => void) | undefined;
  let storage: Parameters<typeof openDatabase>[0];
  if (databaseUrl) storage = { databaseUrl };
  else {
    const paths = await ensureDataDir(dataDirFrom(args));
    release = lockDataDir(paths);
    storage = { pgliteDir: paths.pglite };
  }
  try {
    const db = await openDatabase(storage);
    try {
      const outcomes = await exportModels(db, dir, (o) =>
        io.out(`${o.sha256}  ${o.bytes} bytes  ${o.written ? 'written' : 'already there'}`),
      );
      io.out(`${outcomes.length} models in ${dir}`);
    } finally {
      await db.close();
    }
  } finally {
    release?.();
  }
  return 0;
}

async function rotateKey(args: ParsedArgs, io: CliIo): Promise<number> {
  onlyFlags(args, ['data']);
  const [step, ...rest] = args.positionals;
  if ((step !== 'prepare' && step !== 'activate') || rest.length > 0)
    throw new UsageError('usage: rotate-key prepare|activate [--data DIR]');
  const databaseUrl = io.env.DATABASE_URL || undefined;
  const paths = await ensureDataDir(dataDirFrom(args));
  let release: (() => void) | undefined;
  let storage: Parameters<typeof openDatabase>[0];
  if (databaseUrl) storage = { databaseUrl };
  else {
    release = lockDataDir(paths);
    storage = { pgliteDir: paths.pglite };
  }
  const places = {
    dataDir: paths,
    ...(io.env[SIGNING_KEY_ENV] ? { signingKey: io.env[SIGNING_KEY_ENV] } : {}),
    ...(io.env[NEXT_SIGNING_KEY_ENV] ? { nextSigningKey: io.env[NEXT_SIGNING_KEY_ENV] } : {}),
  };
  try {
    const db = await openDatabase(storage);
    try {
      if (step === 'prepare') {
        const prepared = await prepareNextKey(db, places);
        io.out(`signing key  ${manifestKeyId(prepared.active)}  (still signs)`);
        io.out(
          `next key     ${manifestKeyId(prepared.next)}  raw ${prepared.next}${prepared.created ? '' : '  (prepared before)'}`,
        );
        io.out(
          `  private key ${prepared.file ? `in ${prepared.file} (copy it to every server's data directory)` : places.nextSigningKey ? `from ${NEXT_SIGNING_KEY_ENV}` : 'not in this data directory: it is wherever `prepare` first ran'}`,
        );
        io.out(
          'Build apps with both keys (rollout: { publicKeys: [current, next] }), restart the servers, and run `rotate-key activate` once the fleet runs those builds.',
        );
      } else {
        const { old, active, file } = await activateNextKey(db, places);
        io.out(`signing key  ${active}  (signs after the servers restart; ${old} is forgotten)`);
        io.out(
          file
            ? `  private key in ${file}; servers elsewhere take their signing-key.next at restart`
            : `  set ${SIGNING_KEY_ENV} to the next key (the value of ${NEXT_SIGNING_KEY_ENV}) on every server, then restart them`,
        );
      }
    } finally {
      await db.close();
    }
  } catch (error) {
    if (error instanceof RotationError) throw new UsageError(`${error.code}: ${error.message}`);
    throw error;
  } finally {
    release?.();
  }
  return 0;
}

/** `90s`, `30m`, `6h`, `2d`, or plain seconds. */
function durationSeconds(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([smhd]?)$/.exec(text.trim());
  if (!match) throw new UsageError(`--duration must look like 90s, 30m, 6h or 2d, not ${text}`);
  return Number(match[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86_400 }[match[2] as 's'];
}

async function federated(args: ParsedArgs, io: CliIo): Promise<number> {
  const [action, ref, ...rest] = args.positionals;
  const why = flag(args, 'why');
  const actor = actorFrom(args, io);
  const intent = { actor, ...(why ? { why } : {}) };
  const budgetFlags = ['dp-epsilon', 'dp-delta'];
  if (action === 'open') {
    onlyFlags(args, [
      ...COMMON,
      ...budgetFlags,
      'why',
      'clip',
      'min-clients',
      'min-outcomes',
      'sampling-rate',
      'noise-multiplier',
      'deadline',
      'duration',
    ]);
    if (!ref || rest.length > 0)
      throw new UsageError('usage: federated open <version> --clip C --min-clients N');
    const clip = numberFlag(args, 'clip');
    const minClients = numberFlag(args, 'min-clients');
    if (clip === undefined || minClients === undefined)
      throw new UsageError('federated open needs --clip C and --min-clients N');
    const minOutcomes = numberFlag(args, 'min-outcomes');
    const samplingRate = numberFlag(args, 'sampling-rate');
    const noiseMultiplier = numberFlag(args, 'noise-multiplier');
    const deadline = flag(args, 'deadline');
    const duration = flag(args, 'duration');
    if (deadline && duration) throw new UsageError('give --deadline or --duration, not both');
    const request: OpenRoundRequest = {
      ...intent,
      baseVersionId: ref,
      clip,
      minClients,
      ...(minOutcomes !== undefined ? { minOutcomes } : {}),
      ...(samplingRate !== undefined ? { samplingRate } : {}),
      ...(noiseMultiplier !== undefined ? { noiseMultiplier } : {}),
      ...(deadline ? { deadline } : {}),
      ...(duration ? { durationSeconds: durationSeconds(duration) } : {}),
    };
    await withAdmin(args, io, async (client) => {
      io.out(`opened ${formatRound(await client.federatedOpen(request))}`);
    });
    return 0;
  }
  if (action === 'close') {
    onlyFlags(args, [...COMMON, ...budgetFlags, 'why', 'cancel']);
    if (!ref || rest.length > 0) throw new UsageError('usage: federated close <round> [--cancel]');
    const cancel = args.flags.get('cancel') === true;
    await withAdmin(args, io, async (client) => {
      const round = await client.federatedClose(ref, { ...intent, ...(cancel ? { cancel } : {}) });
      io.out(
        round.resultVersionId
          ? `${round.id} aggregated ${round.contributions} contributions into ${round.resultVersionId}, staged (ε ${round.epsilon} at δ ${round.delta} spent in all)`
          : `closed ${formatRound(round)}`,
      );
    });
    return 0;
  }
  if (action === 'status') {
    onlyFlags(args, [...COMMON, ...budgetFlags]);
    if (ref !== undefined) throw new UsageError('usage: federated status');
    await withAdmin(args, io, async (client) => {
      io.out(`localfit federated rounds (${client.target})`);
      io.out('');
      io.out(formatFederated(await client.federatedStatus()));
    });
    return 0;
  }
  throw new UsageError('usage: federated open|status|close …');
}

const COMMANDS: Record<string, (args: ParsedArgs, io: CliIo) => Promise<number>> = {
  federated,
  jobs,
  'rotate-key': rotateKey,
  'export-models': exportModelsCommand,
  autopilot,
  evaluate,
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
    return await run(parseArgs(rest, ['dry-run', 'cancel']), io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`${error.message}\n(see: npm run server -- help)`);
      return 2;
    }
    if (error instanceof AdminError || error instanceof SigningKeyError) {
      io.err(`refused: ${error.code}: ${error.message}`);
      return 1;
    }
    io.err(`error: ${(error as Error).message ?? String(error)}`);
    return 1;
  }
}
