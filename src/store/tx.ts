import type { IDBPDatabase, IDBPTransaction, StoreNames } from 'idb';
import type { LocalfitDB } from './schema.ts';

export type Durability = 'default' | 'strict' | 'relaxed';

/**
 * Runs `body` in one transaction and resolves only after the transaction has COMMITTED
 * (`tx.done`), so a resolved write is a stored write. If `body` throws, the transaction is
 * aborted, so a failed operation changes nothing.
 *
 * `body` may await only requests of `tx`: awaiting anything else (crypto, timers, fetch) lets the
 * browser auto-commit the transaction, and later requests would fail. Do such work before.
 */
export async function inTransaction<
  Names extends StoreNames<LocalfitDB>[],
  Mode extends IDBTransactionMode,
  T,
>(
  db: IDBPDatabase<LocalfitDB>,
  stores: Names,
  mode: Mode,
  body: (tx: IDBPTransaction<LocalfitDB, Names, Mode>) => Promise<T>,
  durability: Durability = 'default',
): Promise<T> {
  const tx = db.transaction(stores, mode, { durability });
  try {
    const result = await body(tx);
    await tx.done;
    return result;
  } catch (error) {
    // The rejection is `error` (or the abort it caused); keep tx.done from going unhandled.
    tx.done.catch(() => {});
    try {
      tx.abort();
    } catch {
      // Already aborted (a failed request aborts it) or already finished.
    }
    throw error;
  }
}
