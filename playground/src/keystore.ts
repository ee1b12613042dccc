/**
 * Account keys in IndexedDB, one record per CA directory. IndexedDB stores a `CryptoKey` by structured clone,
 * so a non-extractable private key stays non-extractable: the page can sign with it after a reload, but neither
 * the page nor anything else running in it can read the key material.
 */

/** What the page remembers about the account at one CA. */
export interface AccountRecord {
  /** The CA's directory URL (the record's key). */
  directoryUrl: string
  /** The account key; `privateKey` is non-extractable. */
  keyPair: CryptoKeyPair
  /** The account URL (`kid`), once the account exists. */
  accountUrl?: string
  /** The account's status at the CA, as last seen (`valid`, `deactivated`, ...). */
  status?: string
  /** Contact URLs as last seen. */
  contact?: string[]
}

const DB_NAME = 'webacme-playground'
const STORE = 'accounts'

let database: Promise<IDBDatabase> | undefined

function open(): Promise<IDBDatabase> {
  database ??= new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1)
    request.onupgradeneeded = () => request.result.createObjectStore(STORE, { keyPath: 'directoryUrl' })
    request.onsuccess = () => resolve(request.result)
    request.onerror = () => reject(request.error)
  })
  return database
}

async function transact<T>(
  mode: IDBTransactionMode,
  work: (store: IDBObjectStore) => IDBRequest<T>,
): Promise<T> {
  const db = await open()
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode)
    const request = work(tx.objectStore(STORE))
    tx.oncomplete = () => resolve(request.result)
    tx.onerror = () => reject(tx.error ?? request.error)
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'))
  })
}

/** The record for a directory, if this browser has one. */
export async function loadAccount(directoryUrl: string): Promise<AccountRecord | undefined> {
  return (await transact<AccountRecord | undefined>('readonly', (s) => s.get(directoryUrl))) ?? undefined
}

/** Stores (or replaces) a record. */
export async function saveAccount(record: AccountRecord): Promise<void> {
  await transact('readwrite', (s) => s.put(record))
}

/** Forgets the record of a directory (the key is gone for good). */
export async function deleteAccount(directoryUrl: string): Promise<void> {
  await transact('readwrite', (s) => s.delete(directoryUrl))
}
