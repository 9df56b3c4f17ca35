/**
 * The ```ts examples in the README and in module headers type-check against the code they
 * describe, so they cannot go stale. Each example becomes a virtual module beside the file it
 * documents (relative imports resolve from there; `localfit`, `localfit/learn` and
 * `localfit/offline` resolve to the package's entry points) and the whole set is checked in
 * one TypeScript program with the project's compiler options.
 *
 * README examples continue one another, as the README reads: they may use `learner`,
 * `candidates`, `items` and `context` without declaring them, and `createLearner` without
 * importing it; the PRELUDE below declares whichever of these an example does not declare
 * itself. Module-header examples are complete as written.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { beforeAll, expect, test } from 'vitest';

const root = resolve(import.meta.dirname, '../../..');

interface Example {
  /** Where it is written, for the test's name: file:line. */
  where: string;
  /** The virtual module's path. */
  path: string;
  code: string;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
    .map((e) => relative(root, join(e.parentPath, e.name)));
}

/** ```ts blocks inside a file's block comments: ` * ```ts` … ` * ```` with the ` * ` taken off. */
function headerExamples(file: string): Example[] {
  const lines = readFileSync(join(root, file), 'utf8').split('\n');
  const out: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^\s*\* ?```ts\s*$/.test(lines[i])) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^\s*\* ?```\s*$/.test(lines[i]); i++)
      body.push(lines[i].replace(/^\s*\* ?/, ''));
    out.push({
      where: `${file}:${start + 1}`,
      path: join(root, dirname(file), `__example_${start + 1}__.ts`),
      code: [...body, 'export {};'].join('\n'),
    });
  }
  return out;
}

const PRELUDE: [name: string, declaration: string][] = [
  ['createLearner', "import { createLearner } from 'localfit';"],
  ['learner', "declare const learner: import('localfit').Learner;"],
  ['candidates', "declare const candidates: import('localfit').Example[];"],
  ['items', 'declare const items: number[];'],
  ['context', 'declare const context: number[];'],
];

function readmeExamples(file: string): Example[] {
  const text = readFileSync(join(root, file), 'utf8');
  const out: Example[] = [];
  for (const match of text.matchAll(/^```ts\n([\s\S]*?)^```$/gm)) {
    const line = text.slice(0, match.index).split('\n').length;
    const code = match[1];
    // Declared by the example itself: `const name`, `const { name } =`, `import { name }`.
    const declares = (name: string) =>
      new RegExp(`\\b(?:const|let|var|function|class)\\s+${name}\\b`).test(code) ||
      new RegExp(`\\b(?:const|let|var)\\s*[{[][^=]*\\b${name}\\b[^=]*[}\\]]\\s*=`).test(code) ||
      new RegExp(`\\bimport\\s*(?:type\\s*)?{[^}]*\\b${name}\\b[^}]*}`).test(code);
    const prelude = PRELUDE.filter(
      ([name]) => new RegExp(`\\b${name}\\b`).test(code) && !declares(name),
    ).map(([, declaration]) => declaration);
    out.push({
      where: `${file}:${line}`,
      path: join(root, dirname(file), `__example_${line}__.ts`),
      code: [...prelude, code, 'export {};'].join('\n'),
    });
  }
  return out;
}

const examples = [
  ...readmeExamples('README.md'),
  ...['src', 'workers', 'models', 'server'].flatMap(sourceFiles).flatMap(headerExamples),
];

let diagnostics: Map<string, string[]>;

beforeAll(() => {
  const config = ts.readConfigFile(join(root, 'tsconfig.json'), ts.sys.readFile);
  const { options } = ts.parseJsonConfigFileContent(config.config, ts.sys, root);
  options.baseUrl = root;
  options.paths = {
    localfit: ['./src/client/index.ts'],
    'localfit/learn': ['./src/learn/index.ts'],
    'localfit/offline': ['./src/offline/index.ts'],
  };
  const virtual = new Map(examples.map((e) => [e.path, e.code]));
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (path) => virtual.has(path) || fileExists(path);
  host.readFile = (path) => virtual.get(path) ?? readFile(path);
  host.getSourceFile = (path, language, onError, create) => {
    const code = virtual.get(path);
    return code === undefined
      ? getSourceFile(path, language, onError, create)
      : ts.createSourceFile(path, code, language, true, ts.ScriptKind.TS);
  };
  const program = ts.createProgram([...virtual.keys()], options, host);
  diagnostics = new Map(examples.map((e) => [e.path, []]));
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const list = d.file && diagnostics.get(d.file.fileName);
    if (!list || !d.file || d.start === undefined) continue;
    const { line } = d.file.getLineAndCharacterOfPosition(d.start);
    list.push(`line ${line + 1}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
  }
}, 120_000);

test('there are examples to check', () => {
  expect(examples.filter((e) => e.where.startsWith('README.md')).length).toBeGreaterThan(3);
  expect(examples.length).toBeGreaterThan(50);
});

test.each(examples.map((e) => [e.where, e] as const))('%s type-checks', (_where, example) => {
  expect(diagnostics.get(example.path)).toEqual([]);
});

// ---------------------------------------------------------------------------------------------
// Running them. Examples that need neither a browser (`localfit`, the worker, the service
// worker) nor names they only declare are run in Node, and a line `expression; // value` whose
// comment starts with a value (a number, string, array, object, `true`, `Float64Array [...]`,
// `≈ 0.3`; prose after `:`, ` —` or ` (` is ignored) is checked against it. Numbers are compared
// to the precision written (`3.4` means 3.35 … 3.45); a string with `…` is a prefix;
// `// throws LearnerError CODE` expects that error. A comment that is not a value is prose and
// is not checked. A value may also stand alone on the comment line after the statement. An
// example that prints (a detector's alarms) says what it prints on the first comment line after
// the print: the first printed line must appear there (the measured delays in the headers).

import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';

interface Check {
  line: number;
  ok: boolean;
  detail: string;
}

declare global {
  var __docExample: {
    check(line: number, actual: unknown, expected: string): void;
    throws(line: number, run: () => unknown, code: string): void;
  };
}

/** The expected value a comment states, or undefined when the comment is prose. */
function statedValue(
  comment: string,
): { value: unknown; approx: boolean; text: string } | undefined {
  let text = comment.trim();
  const approx = text.startsWith('≈');
  if (approx) text = text.slice(1).trim();
  for (const cut of [/:\s/, / — /, / \(/]) {
    const m = cut.exec(text);
    // Cut prose off only outside brackets and quotes (a `:` inside `{ a: 1 }` is the value's).
    if (m && balanced(text.slice(0, m.index))) text = text.slice(0, m.index);
  }
  text = text.trim();
  let typed: string | undefined;
  const array = /^(Float64Array|Float32Array|Int32Array)\s+(\[.*\])$/.exec(text);
  if (array) [, typed, text] = array;
  if (
    !/^(true|false|null|NaN|-?[\d.]+(e-?\d+)?|'.*'|".*"|\[.*\]|\{.*\}|Math\.\w+\(.*\))$/.test(text)
  )
    return undefined;
  try {
    const value: unknown = new Function(`return (${text});`)();
    return { value: typed ? { typed, values: value } : value, approx, text };
  } catch {
    return undefined;
  }
}

function balanced(text: string): boolean {
  let depth = 0;
  let quote: string | undefined;
  for (const ch of text) {
    if (quote) {
      if (ch === quote) quote = undefined;
    } else if (ch === "'" || ch === '"') quote = ch;
    else if ('[{('.includes(ch)) depth++;
    else if (']})'.includes(ch)) depth--;
  }
  return depth === 0 && quote === undefined;
}

/** Decimals written in a number's text: 3.4 → 1. */
const decimals = (n: number, text: string) => {
  const m = new RegExp(`${String(n).replace('.', '\\.')}`).test(text)
    ? /\.(\d+)/.exec(String(n))
    : null;
  return m ? m[1].length : 0;
};

function matches(actual: unknown, expected: unknown, approx: boolean, text: string): boolean {
  if (typeof expected === 'number') {
    if (typeof actual !== 'number') return false;
    if (Number.isNaN(expected)) return Number.isNaN(actual);
    const places = decimals(expected, text);
    const tolerance = approx || places > 0 ? 0.5 * 10 ** -Math.max(places, approx ? 0 : places) : 0;
    return Math.abs(actual - expected) <= Math.max(tolerance, 1e-12 * Math.abs(expected));
  }
  if (typeof expected === 'string' && expected.includes('…'))
    return typeof actual === 'string' && actual.startsWith(expected.split('…')[0]);
  if (expected && typeof expected === 'object' && 'typed' in expected && 'values' in expected) {
    const { typed, values } = expected as { typed: string; values: unknown[] };
    return (
      (actual as object)?.constructor?.name === typed &&
      matches(Array.from(actual as ArrayLike<number>), values, approx, text)
    );
  }
  if (Array.isArray(expected))
    return (
      Array.isArray(actual) &&
      actual.length === expected.length &&
      expected.every((e, i) => matches(actual[i], e, approx, text))
    );
  if (expected && typeof expected === 'object') {
    if (!actual || typeof actual !== 'object') return false;
    const keys = Object.keys(expected);
    return (
      keys.length === Object.keys(actual).length &&
      keys.every((k) =>
        matches(
          (actual as Record<string, unknown>)[k],
          (expected as Record<string, unknown>)[k],
          approx,
          text,
        ),
      )
    );
  }
  return Object.is(actual, expected);
}

const DECLARATION =
  /^\s*(import|export|const|let|var|for|if|while|function|class|declare|type|interface)\b/;

/** What an example says it prints: the first comment-only line after its console.log. */
function statedOutput(code: string): string | undefined {
  const lines = code.split('\n');
  const print = lines.findIndex((l) => l.includes('console.log('));
  if (print < 0) return undefined;
  return lines
    .slice(print + 1)
    .map((l) => /^\s*\/\/\s?(.*)$/.exec(l)?.[1])
    .find((c) => c !== undefined);
}

/** The example with its checkable lines wrapped, or undefined if it cannot run in Node. */
function runnable(example: Example): string | undefined {
  const { code } = example;
  if (/from 'localfit/.test(code) || /\bdeclare\b/.test(code) || example.where.startsWith('README'))
    return undefined;
  const lines = code.split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const m = /^(\s*)(.+?);\s*\/\/(.*)$/.exec(line);
    const next = /^\s*\/\/(.*)$/.exec(lines[i + 1] ?? '');
    const statement = m ? m[2] : /^(\s*)(.+?);\s*$/.exec(line)?.[2];
    const comment = m ? m[3] : next?.[1];
    if (
      statement &&
      comment !== undefined &&
      !DECLARATION.test(statement) &&
      !line.startsWith(' ')
    ) {
      const throwsCode = /^\s*throws \w+ ([A-Z_]+)/.exec(comment);
      const stated = statedValue(comment);
      if (throwsCode) {
        out.push(
          `globalThis.__docExample.throws(${i + 1}, () => ${statement}, '${throwsCode[1]}');`,
        );
        continue;
      }
      if (stated) {
        out.push(
          `globalThis.__docExample.check(${i + 1}, ${statement}, ${JSON.stringify(comment)});`,
        );
        continue;
      }
    }
    out.push(line);
  }
  // Relative imports from the example's real place.
  const from = dirname(example.path);
  return out
    .join('\n')
    .replace(
      /from '(\.[^']+)'/g,
      (_m, spec: string) => `from '${pathToFileURL(resolve(from, spec)).href}'`,
    );
}

const runs = examples.flatMap((e) => {
  const code = runnable(e);
  return code === undefined ? [] : [[e.where, e, code] as const];
});

test('most module-header examples run', () => {
  expect(runs.length).toBeGreaterThan(40);
});

const checked: Check[] = [];

test.each(runs)('%s runs and says what it returns', async (where, example, code) => {
  const checks: Check[] = [];
  globalThis.__docExample = {
    check(line, actual, comment) {
      const stated = statedValue(comment);
      const ok = stated !== undefined && matches(actual, stated.value, stated.approx, stated.text);
      checks.push({
        line,
        ok,
        detail: `line ${line}: got ${String(actual instanceof Object ? JSON.stringify(actual) : actual)}, comment says ${comment.trim()}`,
      });
    },
    throws(line, run, code) {
      try {
        run();
        checks.push({ line, ok: false, detail: `line ${line}: did not throw ${code}` });
      } catch (error) {
        const got = (error as { code?: string }).code;
        checks.push({
          line,
          ok: got === code,
          detail: `line ${line}: threw ${got}, comment says ${code}`,
        });
      }
    },
  };
  const dir = join(tmpdir(), 'localfit-doc-examples');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${where.replace(/[^\w]+/g, '_')}.ts`);
  writeFileSync(file, code);
  const printed: string[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => void printed.push(args.map(String).join(' '));
  try {
    await import(pathToFileURL(file).href);
  } finally {
    console.log = log;
    rmSync(file, { force: true });
  }
  const output = statedOutput(example.code);
  if (output !== undefined)
    checks.push({
      line: 0,
      ok: printed.length > 0 && output.includes(printed[0]),
      detail: `printed ${JSON.stringify(printed.slice(0, 3))}, comment says ${output}`,
    });
  checked.push(...checks);
  expect(checks.filter((c) => !c.ok).map((c) => c.detail)).toEqual([]);
});

test('the comments state values that were checked', () => {
  console.info(`${checked.length} stated values checked in ${runs.length} examples`);
  expect(checked.length).toBeGreaterThan(40);
});
