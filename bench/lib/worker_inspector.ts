import type { Browser, CDPSession } from 'playwright';

/**
 * The DevTools protocol of one dedicated worker, reached from a browser-level session: Playwright
 * keeps workers' sessions to itself, so this attaches in the protocol's non-flat mode and passes
 * messages through `Target.sendMessageToTarget` / `receivedMessageFromTarget`.
 */
export class WorkerInspector {
  private readonly cdp: CDPSession;
  private readonly sessionId: string;
  private nextId = 1;
  private readonly listeners = new Map<string, (params: unknown) => void>();
  private readonly pending = new Map<
    number,
    { resolve: (value: unknown) => void; reject: (error: Error) => void }
  >();

  private constructor(cdp: CDPSession, sessionId: string) {
    this.cdp = cdp;
    this.sessionId = sessionId;
    cdp.on('Target.receivedMessageFromTarget', (event) => {
      if (event.sessionId !== this.sessionId) return;
      const message = JSON.parse(event.message) as {
        id?: number;
        method?: string;
        params?: unknown;
        result?: unknown;
        error?: { message: string };
      };
      if (message.method) this.listeners.get(message.method)?.(message.params);
      const waiter = message.id === undefined ? undefined : this.pending.get(message.id);
      if (!waiter || message.id === undefined) return;
      this.pending.delete(message.id);
      if (message.error) waiter.reject(new Error(message.error.message));
      else waiter.resolve(message.result);
    });
  }

  /** Attaches to the worker whose script URL contains `urlPart`. */
  static async attach(browser: Browser, urlPart: string): Promise<WorkerInspector> {
    const cdp = await browser.newBrowserCDPSession();
    const { targetInfos } = await cdp.send('Target.getTargets');
    const target = targetInfos.find((t) => t.type === 'worker' && t.url.includes(urlPart));
    if (!target) {
      await cdp.detach();
      const workers = targetInfos.filter((t) => t.type === 'worker').map((t) => t.url);
      throw new Error(`no worker running ${urlPart} (workers: ${workers.join(', ') || 'none'})`);
    }
    const { sessionId } = await cdp.send('Target.attachToTarget', {
      targetId: target.targetId,
      flatten: false,
    });
    return new WorkerInspector(cdp, sessionId);
  }

  send<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++;
    const answer = new Promise<T>((resolve, reject) =>
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject }),
    );
    void this.cdp.send('Target.sendMessageToTarget', {
      sessionId: this.sessionId,
      message: JSON.stringify({ id, method, params }),
    });
    return answer;
  }

  /** Evaluates `expression` in the worker; its value, which must be JSON. */
  async evaluate<T>(expression: string): Promise<T> {
    const { result, exceptionDetails } = await this.send<{
      result: { value: T };
      exceptionDetails?: { text: string };
    }>('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true });
    if (exceptionDetails) throw new Error(`in the worker: ${exceptionDetails.text}`);
    return result.value;
  }

  /** A heap snapshot of the worker, as DevTools' Memory panel reads it (JSON text). */
  async heapSnapshot(): Promise<string> {
    const chunks: string[] = [];
    this.listeners.set('HeapProfiler.addHeapSnapshotChunk', (params) =>
      chunks.push((params as { chunk: string }).chunk),
    );
    await this.send('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
    this.listeners.delete('HeapProfiler.addHeapSnapshotChunk');
    return chunks.join('');
  }

  async detach(): Promise<void> {
    await this.cdp.detach();
  }
}

/**
 * A heap snapshot's bytes by kind: `code` (V8's bytecode, machine code and feedback, which grow
 * as functions warm up and tier up, bounded by the code there is), `native` (memory outside
 * the JS heap that objects hold: ArrayBuffer and wasm memory backing stores, Blink's objects)
 * and `objects` (everything else: the JS heap's objects, strings, arrays, closures — what the
 * program holds on to, where a leak would show).
 */
export function heapBreakdown(snapshot: string): { objects: number; native: number; code: number } {
  const parsed = JSON.parse(snapshot) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
  };
  const { node_fields: fields, node_types: types } = parsed.snapshot.meta;
  const stride = fields.length;
  const typeAt = fields.indexOf('type');
  const sizeAt = fields.indexOf('self_size');
  const code = types[0].indexOf('code');
  const native = types[0].indexOf('native');
  const sums = { objects: 0, native: 0, code: 0 };
  for (let i = 0; i < parsed.nodes.length; i += stride) {
    const type = parsed.nodes[i + typeAt];
    const size = parsed.nodes[i + sizeAt];
    if (type === code) sums.code += size;
    else if (type === native) sums.native += size;
    else sums.objects += size;
  }
  return sums;
}
