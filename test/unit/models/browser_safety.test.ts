import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';

// Guards the bundling contract: models/onnx/** and models/testing.ts go into browser tests,
// and the device's metadata reader goes into the worker bundle.
const root = join(import.meta.dirname, '../../..');
const importsOf = (file: string) =>
  [
    ...readFileSync(join(root, file), 'utf8').matchAll(/\bfrom\s+'([^']+)'|import\(\s*'([^']+)'/g),
  ].map((m) => m[1] ?? m[2]);

test('the ONNX writer and test factory import nothing from node:', () => {
  const files = [
    'models/testing.ts',
    ...readdirSync(join(root, 'models/onnx')).map((name) => `models/onnx/${name}`),
  ];
  for (const file of files) {
    for (const specifier of importsOf(file)) {
      expect(specifier, file).not.toMatch(/^node:|^(fs|path|crypto|url|os)$/);
    }
  }
});

test('the device metadata reader does not pull in protobuf libraries', () => {
  const imports = importsOf('src/backbone/model_metadata.ts');
  expect(imports.length).toBeGreaterThan(0);
  for (const specifier of imports) expect(specifier).toMatch(/^\.\.?\//);
});
