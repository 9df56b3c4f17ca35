import type { Example } from '../../../src/client/index.ts';

export type PageCommand =
  | { kind: 'start'; model: Uint8Array; store: string; snapshotEvery: number }
  | { kind: 'observe'; id: string; example: Example; label: number };
export type PageReply =
  | { kind: 'loaded' }
  | { kind: 'ready' }
  | { kind: 'failed'; message: string }
  | { kind: 'observed'; id: string; duplicate: boolean }
  | { kind: 'rejected'; id: string; message: string };

/**
 * Another "tab" of this origin: an iframe running its own learner (its own worker) on a shared
 * store. `close()` removes the iframe, which ends its page and its worker at once.
 */
export interface Tab {
  observe(id: string, example: Example, label: number): Promise<PageReply>;
  close(): void;
}

export async function openTab(options: {
  store: string;
  model: Uint8Array;
  snapshotEvery?: number;
}): Promise<Tab> {
  const page = crypto.randomUUID();
  const frame = document.createElement('iframe');
  // Built in two steps: Vite rewrites `new URL(template, import.meta.url)` as an asset glob.
  const url = new URL('./learner_page.html', import.meta.url);
  url.searchParams.set('page', page);
  frame.src = url.href;
  const waiting = new Map<string, (reply: PageReply) => void>();
  let ready: (reply: PageReply) => void = () => {};
  const started = new Promise<PageReply>((resolve) => {
    ready = resolve;
  });
  const onMessage = (event: MessageEvent<PageReply & { page?: string }>) => {
    if (event.data?.page !== page) return;
    const message = event.data;
    if (message.kind === 'loaded') {
      const start: PageCommand = {
        kind: 'start',
        model: options.model,
        store: options.store,
        snapshotEvery: options.snapshotEvery ?? 50,
      };
      frame.contentWindow?.postMessage(start, '*');
    } else if (message.kind === 'ready' || message.kind === 'failed') ready(message);
    else waiting.get(message.id)?.(message);
  };
  window.addEventListener('message', onMessage);
  document.body.append(frame);
  const first = await started;
  if (first.kind === 'failed') throw new Error(`tab failed to start: ${first.message}`);
  return {
    observe(id, example, label) {
      return new Promise((resolve) => {
        waiting.set(id, resolve);
        const command: PageCommand = { kind: 'observe', id, example, label };
        frame.contentWindow?.postMessage(command, '*');
      });
    },
    close() {
      window.removeEventListener('message', onMessage);
      frame.remove();
    },
  };
}
