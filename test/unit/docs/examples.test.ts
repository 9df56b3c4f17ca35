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
