/**
 * A server alone in a process (started by model_memory.test.ts under `--expose-gc`), so that
 * what it holds while a model streams through it can be measured without the test's own
 * client in the figure: on `{ type: 'sample' }` over IPC it collects garbage fully and answers
 * with its live memory (JS heap plus every ArrayBuffer, which is where chunks and socket
 * buffers live) and its peak RSS. Exits when the parent goes away.
 */
import { startServer } from '../../../../server/start.ts';

export interface ModelMemoryConfig {
  databaseUrl: string;
  signingKey: string;
  adminToken: string;
  appKey: string;
  maxModelBytes: number;
}

export type ModelMemoryMessage =
  | { type: 'ready'; url: string }
  | { type: 'sample'; live: number; rss: number; maxRss: number };

const collect = (globalThis as { gc?: () => void }).gc;
if (!collect) throw new Error('model_memory_child.ts needs --expose-gc');
const config = JSON.parse(process.env.LOCALFIT_MODEL_MEMORY ?? '{}') as ModelMemoryConfig;
const server = await startServer({
  databaseUrl: config.databaseUrl,
  signingKey: config.signingKey,
  adminToken: config.adminToken,
  appKey: config.appKey,
  port: 0,
  pollMs: 60_000,
  heartbeatMs: 60_000,
  // No chunk cache: what a transfer holds is then all the server holds for it.
  modelCacheBytes: 0,
  maxModelBytes: config.maxModelBytes,
  // What is measured is memory, not speed: a loaded machine may take long to send 48 MiB.
  requestTimeoutMs: 600_000,
  policy: { enabled: false },
});
const send = (message: ModelMemoryMessage) => process.send?.(message);
send({ type: 'ready', url: server.url });
process.on('message', (message: { type: string }) => {
  if (message.type !== 'sample') return;
  // Twice: the first may leave what finalizers released for the next.
  collect();
  collect();
  const usage = process.memoryUsage();
  send({
    type: 'sample',
    live: usage.heapUsed + usage.arrayBuffers,
    rss: usage.rss,
    maxRss: process.resourceUsage().maxRSS * 1024,
  });
});
process.on('disconnect', () => {
  void server.close().finally(() => process.exit(0));
});
