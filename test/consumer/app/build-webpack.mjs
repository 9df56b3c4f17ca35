// The same app built by webpack 5 (its Node API, no webpack-cli): the entry is tsc's output of
// src/main.ts, the page and the model are copied beside the bundle.
import { cpSync } from 'node:fs';
import webpack from 'webpack';

const outDir = new URL('./dist-webpack/', import.meta.url).pathname;
const compiler = webpack({
  mode: 'production',
  entry: './build/tsc/main.js',
  output: { path: outDir, clean: true },
  // onnxruntime-web's wasm is ~14 MB: over webpack's size hints, by design.
  performance: { hints: false },
});
compiler.run((error, stats) => {
  if (error || stats?.hasErrors()) {
    console.error(error ?? stats?.toString('errors-only'));
    process.exit(1);
  }
  cpSync('public', outDir, { recursive: true });
  cpSync('webpack/index.html', `${outDir}index.html`);
  compiler.close(() => undefined);
});
