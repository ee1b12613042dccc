/**
 * Ordering of provider writes. A TXT value is added by reading the record set and writing it back merged
 * (PowerDNS REPLACE, Route53 UPSERT, Google changes); an apex and its wildcard write the same name at the same
 * time, so writes to one name run one after another. An abort rejects the caller at once, but a write
 * already sent is let finish before the next one starts, so a cleanup that follows sees the real state.
 */
import { throwIfAborted } from '../lib/abort.ts'
import type { AbortSignalLike } from '../lib/web-types.ts'

/** Rejects with `signal.reason` as soon as `signal` aborts; otherwise settles as `promise` does. */
export function abortable<T>(promise: Promise<T>, signal: AbortSignalLike | undefined): Promise<T> {
  if (!signal) return promise
  promise.catch(() => {}) // it may settle after the caller has gone: never an unhandled rejection
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(error)
      },
    )
  })
}

/** Runs tasks with the same key one at a time, in call order. */
export type KeyedQueue = <T>(key: string, task: () => Promise<T>, signal?: AbortSignalLike) => Promise<T>

/**
 * A {@link KeyedQueue}. A task whose signal aborted before its turn never starts; one that started runs to its
 * end (holding the key) even when its caller stopped waiting.
 */
export function keyedQueue(): KeyedQueue {
  const tails = new Map<string, Promise<void>>()
  return <T>(key: string, task: () => Promise<T>, signal?: AbortSignalLike): Promise<T> => {
    const previous = tails.get(key) ?? Promise.resolve()
    const run = previous.then(() => {
      throwIfAborted(signal)
      return task()
    })
    const tail = run.then(
      () => {},
      () => {},
    )
    tails.set(key, tail)
    void tail.then(() => {
      if (tails.get(key) === tail) tails.delete(key)
    })
    return abortable(run, signal)
  }
}
