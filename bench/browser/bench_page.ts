// How a bench page hands its result to bench/lib/browser.ts `runBenchPage`: the value of
// `run()` as `window.benchResult`, or its error's message as `window.benchError`.

export async function publishResult(run: () => Promise<unknown>): Promise<void> {
  const w = window as unknown as { benchResult?: unknown; benchError?: string };
  try {
    w.benchResult = await run();
  } catch (error) {
    w.benchError = error instanceof Error ? error.message : String(error);
  }
}
