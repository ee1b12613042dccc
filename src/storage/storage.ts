/**
 * Storage for what outlives one run: accounts, certificates, renewals in progress and renewal state, as JSON
 * records under string keys. The interface is the common ground of a `Map`, a directory of files, Workers KV
 * and a Durable Object's storage: `get`/`put`/`list`/`delete`, plus an optional `compareAndSwap` where the
 * backend can do one atomically (a Durable Object, a file lock; not Workers KV).
 *
 * Key layout used by webacme (names are chosen by the caller, e.g. `example.com`):
 *
 * | key                   | record                                                                        |
 * | --------------------- | ----------------------------------------------------------------------------- |
 * | `accounts/<id>`       | an ACME account: directory URL, account URL, account private key (PKCS#8 PEM) |
 * | `certificates/<name>` | a certificate: PEM chain, its private key, identifiers, validity, CertID      |
 * | `orders/<name>`       | a renewal in progress: the new key and the order URL, until the result is stored |
 * | `renewal/<name>`      | when to renew and when to ask the CA again (RFC 9773 window, Retry-After)     |
 *
 * `accounts/*`, `certificates/*` and `orders/*` hold private keys: back them with storage only their owner can
 * read (the file-system storage writes mode 0600).
 */

import { AcmeError, InvalidArgumentError } from '../acme-error.ts'
import type { StorageErrorCode } from '../error-codes.ts'

/** Something that keeps JSON records under string keys. Implementations must make each `put` atomic. */
export interface Storage {
  /** The record under `key`, parsed, or `undefined` when there is none. */
  get(key: string): Promise<unknown>
  /** Stores `value` (anything `JSON.stringify` accepts) under `key`, replacing what was there, atomically. */
  put(key: string, value: unknown): Promise<void>
  /** Every key that starts with `prefix` (`''` for all), sorted. */
  list(prefix: string): Promise<string[]>
  /** Removes `key`; removing a missing key is not an error. */
  delete(key: string): Promise<void>
  /**
   * Replaces the record under `key` only if it is still `expected` (compared as JSON, key order ignored;
   * `undefined` means "absent"). `value` `undefined` deletes. Resolves `true` when it swapped. Optional: backends
   * without an atomic read-modify-write (Workers KV) leave it out, and callers fall back to `put`.
   */
  compareAndSwap?(key: string, expected: unknown, value: unknown): Promise<boolean>
}

/** Codes of {@link StorageError} (declared with every other code in `src/error-codes.ts`). */
export type { StorageErrorCode }

/**
 * A storage backend failed (`ERR_STORAGE`), a record is not JSON or not the record expected there
 * (`ERR_STORAGE_CORRUPT`), a lock was never released (`ERR_STORAGE_LOCKED`), or a record changed under a
 * compare-and-swap (`ERR_STORAGE_CONFLICT`).
 */
export class StorageError extends AcmeError {
  declare readonly code: StorageErrorCode
  /** The key concerned. */
  readonly key: string
  constructor(code: StorageErrorCode, key: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options)
    this.name = 'StorageError'
    this.key = key
  }
}

/** The keys webacme reads and writes (see the layout above). */
export const storageKeys: {
  account(id: string): string
  certificate(name: string): string
  order(name: string): string
  renewal(name: string): string
} = {
  account: (id) => `accounts/${checkName(id)}`,
  certificate: (name) => `certificates/${checkName(name)}`,
  order: (name) => `orders/${checkName(name)}`,
  renewal: (name) => `renewal/${checkName(name)}`,
}

// One path segment: safe as a file name everywhere (no separators, no leading dot, no reserved characters).
const SEGMENT = /^[A-Za-z0-9_~@+=,-][A-Za-z0-9._~@+=,-]*$/

function checkName(name: string): string {
  if (typeof name !== 'string' || !SEGMENT.test(name) || name.length > 200) {
    throw new InvalidArgumentError(
      `storage name ${JSON.stringify(name)} must be 1-200 characters of A-Z a-z 0-9 . _ ~ @ + = , - and not start with a dot`,
    )
  }
  return name
}

/**
 * Checks a storage key: `/`-separated segments of `A-Z a-z 0-9 . _ ~ @ + = , -`, none starting with a dot, at
 * most 512 characters. Throws an `InvalidArgumentError` otherwise. Backends call it so that every backend accepts the same keys.
 */
export function checkStorageKey(key: string): string {
  if (
    typeof key !== 'string' ||
    key.length === 0 ||
    key.length > 512 ||
    !key.split('/').every((s) => SEGMENT.test(s))
  ) {
    throw new InvalidArgumentError(`invalid storage key ${JSON.stringify(key)}`)
  }
  return key
}

/**
 * Runs one call into a storage backend (`backend` names it in the message: "KV", "R2", ...); a failure that is not
 * already a {@link StorageError} becomes an `ERR_STORAGE` naming the key, with the backend's error as its cause.
 */
export async function storageCall<T>(backend: string, key: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (cause) {
    if (cause instanceof StorageError) throw cause
    throw new StorageError('ERR_STORAGE', key, `${backend} failed for ${key}: ${String(cause)}`, { cause })
  }
}

/** JSON with object keys sorted, so that two equal records compare equal whatever their key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  )
}

/** `JSON.stringify(value)`, refusing what is not JSON (`undefined`, functions, cycles) with an `InvalidArgumentError`. */
export function toJsonText(key: string, value: unknown): string {
  let text: string | undefined
  try {
    text = JSON.stringify(value)
  } catch (cause) {
    throw new InvalidArgumentError(`the value for ${key} is not JSON-serialisable`, { cause })
  }
  if (text === undefined) throw new InvalidArgumentError(`the value for ${key} is not JSON-serialisable`)
  return text
}
