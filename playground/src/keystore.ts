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

/**
 * The order in progress at one CA, kept so that a reload does not lose it. It holds no key: the certificate key
 * is made when the order is finalized (a non-extractable key kept here could not be downloaded after a reload),
 * and with the user's own CSR there is none in the page at all.
 */
export interface PendingOrderRecord {
  directoryUrl: string
  /** The account that placed it. */
  accountUrl: string
  orderUrl: string
  names: string[]
  challenge: 'dns-01' | 'http-01'
  /** The key type to make at finalization, or the user's CSR (PEM). */
  keyType: string
  csrPem?: string
}

const DB_NAME = 'webacme-playground'
const STORE = 'accounts'
const ORDERS = 'orders'

let database: Promise<IDBDatabase> | undefined

function open(): Promise<IDBDatabase> {
  database ??= new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 2)
    request.onupgradeneeded = () => {
      const db = request.result
      for (const name of [STORE, ORDERS])
        if (!db.objectStoreNames.contains(name)) db.createObjectStore(name, { keyPath: 'directoryUrl' })
    }
    request.onsuccess = () => resolve(request.result)
    request.onerror = () => reject(request.error)
  })
  return database
}

async function transact<T>(
  mode: IDBTransactionMode,
  work: (store: IDBObjectStore) => IDBRequest<T>,
  store = STORE,
): Promise<T> {
  const db = await open()
  return new Promise((resolve, reject) => {
    const tx = db.transaction(store, mode)
    const request = work(tx.objectStore(store))
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

/** The order in progress at a CA, if one was kept. */
export async function loadPendingOrder(directoryUrl: string): Promise<PendingOrderRecord | undefined> {
  return (await transact<PendingOrderRecord>('readonly', (s) => s.get(directoryUrl), ORDERS)) ?? undefined
}

/** Keeps the order in progress (one per CA), or forgets it (`directoryUrl` alone). */
export async function savePendingOrder(record: PendingOrderRecord | string): Promise<void> {
  if (typeof record === 'string') await transact('readwrite', (s) => s.delete(record), ORDERS)
  else await transact('readwrite', (s) => s.put(record), ORDERS)
}
