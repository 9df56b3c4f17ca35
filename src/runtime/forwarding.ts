import type { LearnerErrorCode } from '../errors.ts';
import { isLearnerError, LearnerError } from '../errors.ts';
import type { LearnerEvent } from './events.ts';

/**
 * Calls from tabs that do not own the learner's state to the tab that does, over a
 * BroadcastChannel. A call stays pending until some leader answers it: when leadership moves
 * (the owner's tab closed mid-call), the new leader announces itself and every follower sends
 * its pending calls again. Re-sending is safe because each call is idempotent for the learner
 * (observations carry a client id that is stored, and so learned, once).
 */
type Message =
  | { kind: 'call'; id: string; from: string; method: string; args: unknown[] }
  | { kind: 'reply'; id: string; to: string; ok: true; value: unknown }
  | { kind: 'reply'; id: string; to: string; ok: false; code?: LearnerErrorCode; message: string }
  | { kind: 'leader'; from: string }
  | { kind: 'event'; event: LearnerEvent };

export type CallHandler = (method: string, args: unknown[]) => Promise<unknown>;

interface Pending {
  method: string;
  args: unknown[];
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export class ForwardingChannel {
  private readonly channel: BroadcastChannel;
  private readonly node = crypto.randomUUID();
  private readonly pending = new Map<string, Pending>();
  private handler: CallHandler | undefined;
  private failure: unknown;

  /** `onEvent` receives the events the leader broadcasts, so every tab hears them. */
  private readonly onEvent: (event: LearnerEvent) => void;
  constructor(name: string, onEvent: (event: LearnerEvent) => void) {
    this.onEvent = onEvent;
    this.channel = new BroadcastChannel(name);
    this.channel.onmessage = (event: MessageEvent<Message>) => void this.receive(event.data);
  }

  /** Sends a call to whoever leads; resolves with the leader's answer. */
  call(method: string, args: unknown[]): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.handler) return this.handler(method, args);
    return new Promise((resolve, reject) => {
      const id = crypto.randomUUID();
      this.pending.set(id, { method, args, resolve, reject });
      this.post({ kind: 'call', id, from: this.node, method, args });
    });
  }

  /**
   * Makes this context the leader: it answers calls from now on, runs its own pending calls
   * itself, and tells followers to send theirs again.
   */
  lead(handler: CallHandler): void {
    this.handler = handler;
    for (const [id, call] of this.pending) {
      this.pending.delete(id);
      handler(call.method, call.args).then(call.resolve, call.reject);
    }
    this.post({ kind: 'leader', from: this.node });
  }

  /** Tells every follower of an event on the leader. */
  broadcast(event: LearnerEvent): void {
    this.post({ kind: 'event', event });
  }

  /** This context cannot lead (its learner failed to open): its calls fail with that error. */
  fail(error: unknown): void {
    this.failure = error;
    for (const call of this.pending.values()) call.reject(error);
    this.pending.clear();
  }

  close(): void {
    this.fail(new LearnerError('CLOSED', 'the learner is closed'));
    this.channel.close();
  }

  private async receive(message: Message): Promise<void> {
    if (message.kind === 'event') {
      if (!this.handler) this.onEvent(message.event);
    } else if (message.kind === 'leader') {
      for (const [id, call] of this.pending) {
        this.post({ kind: 'call', id, from: this.node, method: call.method, args: call.args });
      }
    } else if (message.kind === 'reply') {
      if (message.to !== this.node) return;
      const call = this.pending.get(message.id);
      if (!call) return;
      this.pending.delete(message.id);
      if (message.ok) call.resolve(message.value);
      else call.reject(new LearnerError(message.code ?? 'INTERNAL', message.message));
    } else if (message.kind === 'call' && this.handler) {
      const { id, from } = message;
      try {
        const value = await this.handler(message.method, message.args);
        this.post({ kind: 'reply', id, to: from, ok: true, value });
      } catch (error) {
        const code = isLearnerError(error) ? error.code : undefined;
        const text = error instanceof Error ? error.message : String(error);
        this.post({ kind: 'reply', id, to: from, ok: false, code, message: text });
      }
    }
  }

  private post(message: Message): void {
    this.channel.postMessage(message);
  }
}
