/**
 * Server replicas as separate processes on one PostgreSQL, for the replica test and the
 * `server.scale` benchmark: each runs replica_child.ts (the real `startServer`) under tsx and
 * can be stopped gracefully (SIGTERM) or killed outright (SIGKILL), like a crashed host.
 * They share what a fleet's replicas must share: the database, the signing key, the admin
 * token and the app key.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { openEvents } from './http.ts';

export interface ReplicaConfig {
  databaseUrl: string;
  signingKey: string;
  adminToken: string;
  appKey: string;
  /** The fallback poll (server/events.ts); long, to see push through the database alone. */
  pollMs: number;
  heartbeatMs: number;
}

export type ReplicaMessage = { type: 'ready'; url: string; pid: number };

const CHILD = fileURLToPath(new URL('./replica_child.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

export class Replica {
  readonly url: string;
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;
  private readonly errors: () => string;
  private constructor(url: string, child: ChildProcess, errors: () => string) {
    this.url = url;
    this.child = child;
    this.errors = errors;
    this.exited =
      child.exitCode !== null || child.signalCode !== null
        ? Promise.resolve()
        : new Promise((resolve) => child.once('exit', () => resolve()));
  }

  static async start(config: ReplicaConfig): Promise<Replica> {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      env: { ...process.env, LOCALFIT_REPLICA: JSON.stringify(config) },
    });
    let stderr = '';
    // The tail only: a replica under a flood may log a lot.
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-20_000);
    });
    try {
      const ready = await new Promise<ReplicaMessage>((resolve, reject) => {
        child.once('message', (message: ReplicaMessage) => resolve(message));
        child.once('exit', (code, signal) =>
          reject(new Error(`replica exited (${code ?? signal}) before listening:\n${stderr}`)),
        );
      });
      return new Replica(ready.url, child, () => stderr);
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    }
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The process's exit code once it has exited (null while running or if killed). */
  get exitCode(): number | null {
    return this.child.exitCode;
  }

  /** What the replica wrote to stderr (its tail). */
  stderr(): string {
    return this.errors();
  }

  /** SIGKILL: no shutdown at all, as when a host dies. Resolves once the process is gone. */
  async kill(): Promise<void> {
    if (this.alive) this.child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM: the server closes (streams end, the database is released), then exits. */
  async stop(): Promise<void> {
    if (this.alive) this.child.kill('SIGTERM');
    await this.exited;
  }
}

/** `count` replicas on one database, started at once (they migrate under an advisory lock). */
export async function startReplicas(count: number, config: ReplicaConfig): Promise<Replica[]> {
  const started = await Promise.allSettled(
    Array.from({ length: count }, () => Replica.start(config)),
  );
  const replicas = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) {
    await Promise.all(replicas.map((r) => r.kill()));
    throw failed.reason;
  }
  return replicas;
}

/** A manifest event as an SSE client received it, and when (performance.now()). */
export interface Arrival {
  at: number;
  revision: number;
  etag: string;
}

/**
 * An app's event stream on one replica, read in the background: every `manifest` event is
 * kept with its arrival time, and `after(revision)` waits for the first one above it. When
 * the stream ends (the replica went away), `ended` resolves and waiting rejects.
 */
export class ManifestWatcher {
  readonly url: string;
  readonly arrivals: Arrival[] = [];
  /** Resolves when the stream ended (the replica went away, or `close`). */
  readonly ended: Promise<void>;
  /**
   * How it ended: `end` when the server finished it (chunked encoding's last chunk, as a
   * graceful shutdown does), `cut` when the connection went without it (a killed process).
   */
  endedBy: 'end' | 'cut' | undefined;
  private waiters: { above: number; resolve: (a: Arrival) => void; reject: (e: Error) => void }[] =
    [];
  private done = false;
  private markEnded: () => void = () => {};
  private closeStream: () => void = () => {};

  private constructor(url: string) {
    this.url = url;
    this.ended = new Promise((resolve) => {
      this.markEnded = () => {
        this.done = true;
        this.endedBy ??= 'cut';
        for (const w of this.waiters.splice(0))
          w.reject(new Error(`the event stream on ${this.url} ended`));
        resolve();
      };
    });
  }

  /** Opens the stream; resolves once its first manifest event is in. */
  static async open(url: string): Promise<ManifestWatcher> {
    const watcher = new ManifestWatcher(url);
    const events = await openEvents({ url });
    watcher.closeStream = () => events.close();
    const first = watcher.after(Number.NEGATIVE_INFINITY);
    void (async () => {
      try {
        for (;;) {
          const { data } = await events.next('manifest');
          const { revision, etag } = data as { revision: number; etag: string };
          watcher.arrived({ at: performance.now(), revision, etag });
        }
      } catch (error) {
        // openEvents' reader says so when the body ended; a cut connection rejects the read.
        if ((error as Error).message === 'event stream ended') watcher.endedBy = 'end';
        watcher.markEnded();
      }
    })();
    await first;
    return watcher;
  }

  get latest(): Arrival {
    return this.arrivals[this.arrivals.length - 1];
  }

  /** The first arrival with a revision above `revision` (at once if already here). */
  after(revision: number): Promise<Arrival> {
    const found = this.arrivals.find((a) => a.revision > revision);
    if (found) return Promise.resolve(found);
    if (this.done) return Promise.reject(new Error(`the event stream on ${this.url} ended`));
    return new Promise((resolve, reject) =>
      this.waiters.push({ above: revision, resolve, reject }),
    );
  }

  close(): void {
    this.closeStream();
  }

  private arrived(arrival: Arrival): void {
    this.arrivals.push(arrival);
    this.waiters = this.waiters.filter((w) => {
      if (arrival.revision <= w.above) return true;
      w.resolve(arrival);
      return false;
    });
  }
}
