/**
 * Ordering of provider writes. A TXT value is added by reading the record set and writing it back merged
 * (PowerDNS REPLACE, Route53 UPSERT, Google changes); an apex and its wildcard write the same name at the same
 * time, so writes to one name run one after another. An abort rejects the caller at once, but a write
 * already sent is let finish before the next one starts, so a cleanup that follows sees the real state.
 */
import { raceSignal, throwIfAborted } from '../lib/abort.ts'
import type { AbortSignalLike } from '../lib/web-types.ts'

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
    return raceSignal(run, signal)
  }
}
