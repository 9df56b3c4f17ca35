/**
 * Entry point of `npm run server -- <command>` (tsx server/cli.ts). The commands themselves
 * are in server/cli/commands.ts; this only wires them to the process: argv, environment,
 * stdout/stderr, signals and the exit code.
 */
import { runCli } from './cli/commands.ts';

let stop: () => void = () => {};
const untilStopped = new Promise<void>((resolve) => {
  stop = resolve;
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => stop());

const code = await runCli(process.argv.slice(2), {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  env: process.env,
  untilStopped,
});
process.exit(code);
