/**
 * Rebuilding a database that the engine will no longer upgrade.
 *
 * WebKit (WebKitGTK 2.50 at least) does not fully roll back an aborted upgrade: the object
 * stores and indexes the aborted `versionchange` transaction created stay behind in its backing
 * store, although the database reports its old version and old store names. Every later upgrade
 * then fails when it creates them again (ConstraintError), on every open, while the records
 * themselves are intact. The way out is a fresh database with the same records: copy every
 * record into `<name>~rebuild`, delete the database, create it again at its old version exactly
 * as that version's code did (the same UPGRADES), put the records back, delete the copy. The
 * normal upgrade then runs on a database without leftovers.
 *
 * Crash safety: the database is deleted only once the copy is complete, which the copy's meta
 * store says (COMPLETE, written in the same transaction as the records). On open, a complete
 * copy left behind means the rebuild stopped after the delete: the database is made again from
 * it. An incomplete copy means the database was never touched: the copy is dropped.
 *
 * Auto-increment keys are put back as they were; a key generator restarts after the highest
 * key kept, so the sequence of a store whose newest records had been deleted may reuse their
 * keys (the outcome log never deletes its newest record: eviction takes the oldest).
 */
import type { IDBPDatabase } from 'idb';
import { deleteDB, openDB } from 'idb';
import { runUpgrades } from './schema.ts';

export const REBUILD_SUFFIX = '~rebuild';
/** Meta key of the copy's completeness mark; never copied back. */
const COMPLETE = '~rebuild-complete';

interface StoreDump {
  keys: IDBValidKey[];
  values: unknown[];
  /** In-line keys (a keyPath): put the value alone. Out-of-line (meta): put it with its key. */
  inline: boolean;
}

interface Dump {
  version: number;
  stores: Map<string, StoreDump>;
}

// biome-ignore lint/suspicious/noExplicitAny: any schema version's stores, read generically.
type AnyDB = IDBPDatabase<any>;

async function dump(db: AnyDB): Promise<Dump> {
  const names = [...db.objectStoreNames];
  const tx = db.transaction(names, 'readonly');
  const stores = new Map<string, StoreDump>();
  for (const name of names) {
    const store = tx.objectStore(name);
    const [keys, values] = await Promise.all([store.getAllKeys(), store.getAll()]);
    stores.set(name, { keys, values, inline: store.keyPath !== null });
  }
  await tx.done;
  return { version: db.version, stores };
}

/** Creates `name` at `dump.version` with that version's schema and exactly the dumped records. */
async function restore(name: string, data: Dump, markComplete: boolean): Promise<void> {
  const db: AnyDB = await openDB(name, data.version, {
    upgrade(created, oldVersion, _newVersion, tx) {
      runUpgrades(created, tx, oldVersion, data.version);
    },
  });
  try {
    const tx = db.transaction([...data.stores.keys()], 'readwrite');
    const writes: Promise<unknown>[] = [];
    for (const [storeName, { keys, values, inline }] of data.stores) {
      const store = tx.objectStore(storeName);
      // The schema's first step wrote a new install id and empty counters: the old ones win.
      writes.push(store.clear());
      values.forEach((value, i) => {
        if (storeName === 'meta' && keys[i] === COMPLETE) return;
        writes.push(inline ? store.put(value) : store.put(value, keys[i]));
      });
    }
    if (markComplete) writes.push(tx.objectStore('meta').put(true, COMPLETE));
    await Promise.all([...writes, tx.done]);
  } finally {
    db.close();
  }
}

/**
 * The rebuild's first half: every record of `name` in a complete copy, `name` untouched.
 * Exported for the tests of an interrupted rebuild.
 */
export async function makeRebuildCopy(name: string): Promise<Dump> {
  const db: AnyDB = await openDB(name);
  let data: Dump;
  try {
    data = await dump(db);
  } finally {
    db.close();
  }
  const copy = name + REBUILD_SUFFIX;
  await deleteDB(copy);
  await restore(copy, data, true);
  return data;
}

/** Rebuilds `name` (see the module's header); returns how many records it carried over. */
export async function rebuildDatabase(name: string): Promise<number> {
  const data = await makeRebuildCopy(name);
  const copy = name + REBUILD_SUFFIX;
  await deleteDB(name);
  await restore(name, data, false);
  await deleteDB(copy);
  return [...data.stores.values()].reduce((sum, store) => sum + store.values.length, 0);
}

/**
 * Finishes or drops a rebuild of `name` that a closed page or a crash interrupted. Returns what
 * it did, for the app to be told, or undefined when there was none.
 */
export async function finishInterruptedRebuild(name: string): Promise<string | undefined> {
  const copy = name + REBUILD_SUFFIX;
  let present: boolean;
  try {
    present = (await globalThis.indexedDB.databases()).some((info) => info.name === copy);
  } catch {
    return undefined; // the browser will not list databases: nothing to finish that we know of
  }
  if (!present) return undefined;
  const db: AnyDB = await openDB(copy);
  let data: Dump | undefined;
  try {
    const complete = db.objectStoreNames.contains('meta') && (await db.get('meta', COMPLETE));
    if (complete === true) data = await dump(db);
  } finally {
    db.close();
  }
  if (!data) {
    await deleteDB(copy);
    return undefined; // the copy was still being made: the database itself was never touched
  }
  await deleteDB(name);
  await restore(name, data, false);
  await deleteDB(copy);
  return `database "${name}" restored from the copy an interrupted rebuild left`;
}
