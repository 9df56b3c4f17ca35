/// <reference lib="webworker" />
// Storage failures, installed in a learner's worker before the learner's code runs (imported
// first by storage_faults.worker.ts). The worker's `name` says which (see `faultyWorker` in
// learners.ts):
//
// - `refuse-open`: `indexedDB.open` and `indexedDB.databases` throw the SecurityError Firefox
//   throws when the person blocks site data (cookies); Chromium's "Block all cookies" fails the
//   open request instead, which the store treats the same way.
// - `no-indexeddb`: there is no `indexedDB` at all (older private modes in workers).
// - `quota:<channel>`: writes (`put`, `add`) throw the real DOMException `QuotaExceededError`
//   while the page says the disk is full, on the BroadcastChannel `<channel>` (the engines
//   abort the transaction with it at commit; either way nothing of it is stored).
//
// Why inject, not provoke: no engine here can be started with storage disabled for one test
// (Firefox 153 has no `dom.indexedDB.enabled` pref any more, and blocking cookies with
// `network.cookie.cookieBehavior` — which makes `open` throw exactly this SecurityError —
// would refuse storage to every test of the run; Firefox's real refusal in private browsing
// has a browser of its own, test/browser-private/); nor can a test of this project give its
// origin a small quota (Chromium's CDP `Storage.overrideQuotaForOrigin` applies to a persistent
// profile, not to the Playwright context these tests run in; Firefox's quota prefs are
// browser-wide; MiniBrowser has no option for it at all), and filling the real quota (10 GiB in
// Chromium here) takes too long. Real quota errors, in Chromium and Firefox, have browsers of
// their own: test/browser-quota/. What the learner does with the failure is all real.

const [kind, channelName] = self.name.split(':');

if (kind === 'no-indexeddb') {
  Object.defineProperty(self, 'indexedDB', { value: undefined, configurable: true });
}

if (kind === 'refuse-open') {
  const insecure = () => new DOMException('The operation is insecure.', 'SecurityError');
  IDBFactory.prototype.open = () => {
    throw insecure();
  };
  IDBFactory.prototype.databases = () => Promise.reject(insecure());
}

if (kind === 'quota') {
  let full = false;
  const channel = new BroadcastChannel(channelName);
  channel.onmessage = ({ data }: MessageEvent<{ full: boolean }>) => {
    full = data.full;
    channel.postMessage({ full });
  };
  // As in the engines, a transaction that frees room may still write (eviction's bookkeeping):
  // one that deleted something before it writes is let through.
  const freeing = new WeakSet<IDBTransaction>();
  const storeDelete = IDBObjectStore.prototype.delete;
  IDBObjectStore.prototype.delete = function (this: IDBObjectStore, query) {
    freeing.add(this.transaction);
    return storeDelete.call(this, query);
  };
  const cursorDelete = IDBCursor.prototype.delete;
  IDBCursor.prototype.delete = function (this: IDBCursor) {
    const source = this.source as IDBObjectStore | IDBIndex;
    freeing.add('transaction' in source ? source.transaction : source.objectStore.transaction);
    return cursorDelete.call(this);
  };
  for (const method of ['put', 'add'] as const) {
    const write = IDBObjectStore.prototype[method];
    IDBObjectStore.prototype[method] = function (this: IDBObjectStore, ...args: [unknown]) {
      if (full && !freeing.has(this.transaction)) {
        throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
      }
      return write.apply(this, args);
    };
  }
}
