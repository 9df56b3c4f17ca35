/**
 * One writer per origin (design invariant 6): every tab's learner asks for the same Web Lock;
 * the one holding it owns the IndexedDB state, and the others queue for it. When the owner's
 * page closes or its worker dies, the browser releases the lock and the next in line takes over
 * — no heartbeats or timeouts, so no two writers even when a tab freezes.
 */
export interface Leadership {
  /** Resolves once this context holds the lock; it keeps it until `release()` or death. */
  readonly acquired: Promise<void>;
  readonly isLeader: boolean;
  release(): void;
}

interface LockManagerLike {
  request(name: string, callback: () => Promise<void>): Promise<void>;
}

export function electLeader(lockName: string): Leadership {
  const locks = (globalThis.navigator as { locks?: LockManagerLike } | undefined)?.locks;
  let isLeader = false;
  let release = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  const acquired = locks
    ? new Promise<void>((resolve, reject) => {
        locks
          .request(lockName, () => {
            isLeader = true;
            resolve();
            return held;
          })
          .catch(reject);
      })
    : // Without Web Locks there is no way to coordinate; a lone context owns its state.
      Promise.resolve().then(() => {
        isLeader = true;
      });
  return {
    acquired,
    get isLeader() {
      return isLeader;
    },
    release: () => {
      isLeader = false;
      release();
    },
  };
}
