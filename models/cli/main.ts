/**
 * `localfit` command line (Node). Run through `server/bin/localfit.mjs`, which registers tsx so the
 * TypeScript sources run without a build step:
 *
 *   npx localfit prequential data.csv [--target COLUMN] [--task binary|multiclass|regression]
 *     [--optimizer mixture|sgd|adagrad|ftrl] [--lr X] [--schedule constant|invscaling|optimal]
 *     [--l2 X] [--l1 X] [--batch N] [--drift adwin|ph|kswin] [--drift-policy on|off]
 *     [--json]
 *
 * The file is read twice, streaming: the first pass reads the target column to infer the
 * task and the classes from the whole file (a leading sample could miss a rare class, which
 * a softmax head must know from the start); the second pass runs the evaluation
 * (`prequential.ts`). This file holds only the Node parts: arguments, files, output.
 */
import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import { basename } from 'node:path';
import { createInterface } from 'node:readline';
import { DETECTOR_KINDS, type DetectorKind } from '../../src/drift/index.ts';
import { isLearnerError } from '../../src/errors.ts';
import type { OptimizerConfig, Schedule, Task } from '../../src/learn/types.ts';
import { CliError, parseNumber, splitCsvLine, TargetSummary } from './csv.ts';
import type { Io } from './io.ts';
import { Prequential, type PrequentialReport } from './prequential.ts';
import { replayCommand } from './replay.ts';

export const USAGE = `usage: localfit prequential <file.csv> [options]

Test-then-train evaluation of an online head (with an online standard scaler in front) on a
CSV stream: every row is predicted first, then learned.

options:
  --target COLUMN     target column (default: the last one); all others are numeric features
  --task TASK         binary | multiclass | regression (default: inferred from the target:
                      2 values → binary; ≤ 20 integers or ≤ 50 labels → multiclass;
                      otherwise numeric → regression)
  --optimizer NAME    mixture | sgd | adagrad | ftrl (default: mixture, SGD and AdaGrad
                      candidates mixed by exponential weights on their losses; the report
                      names the leading candidate)
  --schedule NAME     sgd only: constant | invscaling | optimal (default: optimal for
                      classification, invscaling for regression, as scikit-learn)
  --lr X              single optimizers: sgd eta0 (constant/invscaling), adagrad eta0, ftrl alpha
  --l2 X              L2 strength (default 1e-4)
  --l1 X              L1 strength (default 0)
  --batch N           learn in batches of N rows, each predicted before its batch is learned
  --drift DETECTOR    adwin | ph | kswin: watch the prequential error (0/1, or |y − ŷ| for
                      regression) for drift and print the rows where it was detected
                      (0-based data rows, the header not counted)
  --drift-policy on   adapt the learning rate to drift with the default drift policy (ADWIN
                      on the error raises it, then it decays; see src/drift/policy.ts) and
                      print its alarms (default off)
  --json              print one JSON object: accuracy, logloss, auc, rmse, mae, n, samples_per_s
                      (and drifts, the rows of the detections, with --drift; policy, its alarms
                      and mean learning-rate multiplier, with --drift-policy on)
  -h, --help          show this help`;

interface Options {
  file: string;
  target?: string;
  task?: Task;
  optimizer: 'mixture' | 'sgd' | 'adagrad' | 'ftrl';
  schedule?: Schedule;
  lr?: number;
  l2?: number;
  l1?: number;
  batch: number;
  json: boolean;
  drift?: DetectorKind;
  driftPolicy?: boolean;
}

function usage(message: string): never {
  throw new CliError(`${message}\n\n${USAGE}`, 2);
}

function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    usage(`${flag} must be one of ${allowed.join(', ')}, got '${value}'`);
  }
  return value as T;
}

function nonNegative(flag: string, value: string): number {
  const n = parseNumber(value);
  if (!(n >= 0)) usage(`${flag} needs a non-negative number, got '${value}'`);
  return n;
}

export function parseArgs(argv: readonly string[]): Options | 'help' {
  if (argv.includes('-h') || argv.includes('--help')) return 'help';
  const [command, ...rest] = argv;
  if (command === undefined) usage('missing command');
  if (command !== 'prequential') usage(`unknown command '${command}'`);
  const options: Partial<Options> & {
    optimizer: Options['optimizer'];
    batch: number;
    json: boolean;
  } = { optimizer: 'mixture', batch: 1, json: false };
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (!arg.startsWith('--')) {
      if (options.file !== undefined) usage(`unexpected argument '${arg}'`);
      options.file = arg;
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = eq >= 0 ? arg.slice(0, eq) : arg;
    if (flag === '--json') {
      if (eq >= 0) usage('--json takes no value');
      options.json = true;
      continue;
    }
    const known = [
      '--target',
      '--task',
      '--optimizer',
      '--lr',
      '--schedule',
      '--l2',
      '--l1',
      '--batch',
      '--drift',
      '--drift-policy',
    ];
    if (!known.includes(flag)) usage(`unknown option '${flag}'`);
    let value: string;
    if (eq >= 0) value = arg.slice(eq + 1);
    else {
      const next = rest[i + 1];
      if (next === undefined || next.startsWith('--')) usage(`${flag} needs a value`);
      value = next;
      i++;
    }
    switch (flag) {
      case '--target':
        options.target = value;
        break;
      case '--task':
        options.task = oneOf(flag, value, ['binary', 'multiclass', 'regression'] as const);
        break;
      case '--optimizer':
        options.optimizer = oneOf(flag, value, ['mixture', 'sgd', 'adagrad', 'ftrl'] as const);
        break;
      case '--schedule':
        options.schedule = oneOf(flag, value, ['constant', 'invscaling', 'optimal'] as const);
        break;
      case '--lr': {
        const lr = parseNumber(value);
        if (!(lr > 0)) usage(`--lr needs a positive number, got '${value}'`);
        options.lr = lr;
        break;
      }
      case '--l2':
        options.l2 = nonNegative(flag, value);
        break;
      case '--l1':
        options.l1 = nonNegative(flag, value);
        break;
      case '--batch': {
        const batch = parseNumber(value);
        if (!Number.isInteger(batch) || batch < 1)
          usage(`--batch needs a positive integer, got '${value}'`);
        options.batch = batch;
        break;
      }
      case '--drift':
        options.drift = oneOf(flag, value, DETECTOR_KINDS);
        break;
      case '--drift-policy':
        options.driftPolicy = oneOf(flag, value, ['on', 'off'] as const) === 'on';
        break;
    }
  }
  if (options.file === undefined) usage('missing <file.csv>');
  if (options.optimizer === 'mixture' && options.lr !== undefined) {
    usage(
      '--lr applies to a single optimizer (--optimizer sgd|adagrad|ftrl); the mixture needs none',
    );
  }
  if (options.schedule !== undefined && options.optimizer !== 'sgd') {
    usage(`--schedule applies to sgd only, not ${options.optimizer}`);
  }
  if (options.optimizer === 'sgd' && options.lr !== undefined && options.schedule === undefined) {
    usage(
      "--lr with sgd needs --schedule constant or invscaling (the default 'optimal' has no learning rate)",
    );
  }
  if (options.optimizer === 'sgd' && options.lr !== undefined && options.schedule === 'optimal') {
    usage('--schedule optimal derives its learning rate from --l2/--l1; drop --lr');
  }
  return options as Options;
}

function optimizerConfig(options: Options): OptimizerConfig {
  switch (options.optimizer) {
    case 'mixture':
      return { kind: 'mixture' };
    case 'sgd':
      return { kind: 'sgd', schedule: options.schedule, eta0: options.lr };
    case 'adagrad':
      return { kind: 'adagrad', eta0: options.lr };
    case 'ftrl':
      return { kind: 'ftrl', alpha: options.lr };
  }
}

/** Lines of a file, numbered from 1, without blank ones. */
async function* lines(file: string): AsyncGenerator<[number, string]> {
  const stream = createReadStream(file, { encoding: 'utf8' });
  const reader = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
  let number = 0;
  try {
    for await (const line of reader) {
      number++;
      if (line.trim() !== '') yield [number, line];
    }
  } finally {
    reader.close();
    stream.destroy();
  }
}

interface Layout {
  header: string[];
  target: number;
  features: number[];
}

function layout(headerLine: string, targetName: string | undefined): Layout {
  const header = splitCsvLine(headerLine.replace(/^\uFEFF/, '')).map((h) => h.trim());
  if (header.length < 2)
    throw new CliError('the CSV needs at least one feature column and a target column');
  const target = targetName === undefined ? header.length - 1 : header.indexOf(targetName);
  if (target < 0) {
    throw new CliError(`unknown column '${targetName}'; the columns are: ${header.join(', ')}`);
  }
  const features = header.map((_, i) => i).filter((i) => i !== target);
  return { header, target, features };
}

function fields(lineNo: number, line: string, width: number): string[] {
  let values: string[];
  try {
    values = splitCsvLine(line);
  } catch (error) {
    throw new CliError(`line ${lineNo}: ${(error as Error).message}`);
  }
  if (values.length !== width) {
    throw new CliError(`line ${lineNo}: expected ${width} fields, got ${values.length}`);
  }
  return values;
}

export interface RunResult {
  report: PrequentialReport;
  task: Task;
  target: string;
  classes: (string | number)[] | undefined;
}

export async function runPrequential(options: Options): Promise<RunResult> {
  try {
    await access(options.file);
  } catch {
    throw new CliError(`cannot read '${options.file}': no such file or not readable`);
  }

  // Pass 1: the header and the target column.
  let shape: Layout | undefined;
  const summary = new TargetSummary();
  for await (const [lineNo, line] of lines(options.file)) {
    if (shape === undefined) {
      shape = layout(line, options.target);
      continue;
    }
    summary.observe(fields(lineNo, line, shape.header.length)[shape.target]);
  }
  if (shape === undefined) throw new CliError(`'${options.file}' is empty`);
  if (summary.rows === 0) throw new CliError(`'${options.file}' has a header but no rows`);
  const task = options.task ?? summary.inferTask();
  const targetName = shape.header[shape.target];
  let classes: (string | number)[] | undefined;
  if (task === 'regression') {
    if (!summary.numeric)
      throw new CliError(`--task regression needs a numeric target; '${targetName}' is not`);
  } else {
    classes = summary.classes();
    if (task === 'binary' && classes.length !== 2) {
      throw new CliError(
        `--task binary needs 2 distinct target values; '${targetName}' has ${classes.length}`,
      );
    }
    if (classes.length < 2) throw new CliError(`the target '${targetName}' has a single value`);
  }

  // Pass 2: test-then-train.
  const d = shape.features.length;
  const run = new Prequential({
    task,
    dim: d,
    classes,
    optimizer: optimizerConfig(options),
    l2: options.l2,
    l1: options.l1,
    batch: options.batch,
    drift: options.drift,
    policy: options.driftPolicy ? {} : undefined,
  });
  const x = new Float64Array(d);
  let header = true;
  for await (const [lineNo, line] of lines(options.file)) {
    if (header) {
      header = false;
      continue;
    }
    const values = fields(lineNo, line, shape.header.length);
    for (let j = 0; j < d; j++) {
      const column = shape.features[j];
      const v = parseNumber(values[column]);
      if (Number.isNaN(v)) {
        throw new CliError(
          `line ${lineNo}, column '${shape.header[column]}': '${values[column]}' is not a finite number (features must be numeric)`,
        );
      }
      x[j] = v;
    }
    const label = summary.label(values[shape.target]);
    if (task === 'regression' && Number.isNaN(label)) {
      throw new CliError(`line ${lineNo}: target '${values[shape.target]}' is not a number`);
    }
    run.step(x, label);
  }
  return { report: run.finish(), task, target: targetName, classes };
}

function format(value: number | null, digits = 4): string {
  return value === null ? '—' : value.toFixed(digits);
}

function describeRun(options: Options, result: RunResult): string {
  const { report, task, target, classes } = result;
  const what = classes
    ? `${task} (target '${target}': ${classes.join(', ')})`
    : `${task} (target '${target}')`;
  const how = `${options.optimizer}${options.batch > 1 ? `, batches of ${options.batch}` : ', learning every row'}`;
  const out = [`${basename(options.file)}: ${report.n} rows, ${what}, ${how}`];
  if (report.accuracy !== null) out.push(`accuracy  ${format(report.accuracy)}`);
  if (report.logloss !== null) out.push(`logloss   ${format(report.logloss)}`);
  if (report.auc !== null) out.push(`roc auc   ${format(report.auc)}`);
  if (report.rmse !== null) out.push(`rmse      ${format(report.rmse)}`);
  if (report.mae !== null) out.push(`mae       ${format(report.mae)}`);
  const rate = report.samples_per_s;
  const shown = rate === null ? '—' : Math.round(rate).toLocaleString('en-US');
  out.push(`learning  ${shown} samples/s (scaler + head updates, parsing excluded)`);
  if (report.candidates.length > 1) {
    const shares = report.candidates.map((c) => `${c.name} ${c.weight.toFixed(3)}`).join(', ');
    out.push(`leader    ${report.candidates[0].name} (weights: ${shares})`);
  }
  if (report.drifts) out.push(describeDrifts(options.drift!, report.drifts));
  if (report.policy) {
    const { alerts, byDetector, meanMultiplier } = report.policy;
    const each = Object.entries(byDetector).map(([name, count]) => `${name} ${count}`);
    out.push(
      `policy    ${alerts} alarm${alerts === 1 ? '' : 's'} (${each.join(', ')}), ` +
        `mean learning-rate multiplier ${format(meanMultiplier, 3)}`,
    );
  }
  return out.join('\n');
}

/** All the rows when few, else the first and last few: enough to see where drift clusters. */
function describeDrifts(kind: DetectorKind, rows: readonly number[]): string {
  const list = (part: readonly number[]) => part.join(', ');
  const shown =
    rows.length <= 20
      ? list(rows)
      : `${list(rows.slice(0, 10))}, … ${list(rows.slice(-5))} (--json lists all)`;
  const count = `${rows.length} detection${rows.length === 1 ? '' : 's'}`;
  return `drift     ${kind}: ${count}${rows.length > 0 ? ` at rows ${shown}` : ''}`;
}

const processIo: Io = {
  stdout: (text) => process.stdout.write(`${text}\n`),
  stderr: (text) => process.stderr.write(`${text}\n`),
};

/** Runs the command line; resolves to the exit code. */
export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  if (argv[0] === 'replay') return replayCommand(argv.slice(1), io);
  try {
    const options = parseArgs(argv);
    if (options === 'help') {
      io.stdout(USAGE);
      return 0;
    }
    const result = await runPrequential(options);
    io.stdout(options.json ? JSON.stringify(result.report) : describeRun(options, result));
    return 0;
  } catch (error) {
    if (error instanceof CliError) {
      io.stderr(`localfit: ${error.message}`);
      return error.exitCode;
    }
    if (isLearnerError(error)) {
      io.stderr(`localfit: ${error.code}: ${error.message}`);
      return 1;
    }
    throw error;
  }
}
