/**
 * `npm start`: the demo with its sync server, on http://127.0.0.1:5173 (PORT, HOST and
 * LOCALFIT_DATA_DIR override; `--no-build` serves the last build).
 */
import { launchDemo } from './launch.ts';

const demo = await launchDemo({
  port: process.env.PORT ? Number(process.env.PORT) : undefined,
  host: process.env.HOST,
  dataDir: process.env.LOCALFIT_DATA_DIR,
  build: !process.argv.includes('--no-build'),
  log: (line) => console.log(line),
});
console.log(
  [
    '',
    `  localfit demo:  ${demo.url}`,
    `  sync server:    ${demo.url}/v1 (also ${demo.server.url})`,
    `  app key:        ${demo.appKey}`,
    `  admin token:    ${demo.adminToken}`,
    '',
    '  The operator panel reads these from /demo-config.json (served to 127.0.0.1 only).',
    '  Ctrl+C stops.',
    '',
  ].join('\n'),
);
const stop = () => {
  void demo.close().then(() => process.exit(0));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
