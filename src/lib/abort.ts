/** Abortable waiting: every sleep in webacme (polling, backoff, Retry-After) goes through here. */

/** Rejects with the signal's reason when it is (or becomes) aborted, as `fetch` does. */
import type { AbortSignalLike } from './web-types.ts'
export function throwIfAborted(signal: AbortSignalLike | undefined): void {
  if (signal?.aborted) throw signal.reason
}

/** Resolves after `ms` milliseconds, or rejects with `signal.reason` as soon as the signal aborts. */
export function sleep(ms: number, signal?: AbortSignalLike): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal?.reason)
    }
    const timer = setTimeout(
      () => {
        signal?.removeEventListener('abort', onAbort)
        resolve()
      },
      Math.max(0, ms),
    )
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * A signal that aborts when any input does. Uses `AbortSignal.any` where the runtime has it; the fallback
 * keeps listeners only until the combined signal fires.
 */
export function anySignal(signals: Array<AbortSignalLike | undefined>): AbortSignalLike | undefined {
  const present = signals.filter((s): s is AbortSignalLike => s !== undefined)
  if (present.length <= 1) return present[0]
  if (typeof AbortSignal.any === 'function') return AbortSignal.any(present)
  const controller = new AbortController()
  for (const signal of present) {
    if (signal.aborted) {
      controller.abort(signal.reason)
      break
    }
    signal.addEventListener('abort', () => controller.abort(signal.reason), {
      once: true,
      signal: controller.signal,
    })
  }
  return controller.signal
}

/**
 * `promise`, or a rejection with `signal.reason` as soon as the signal aborts, whichever comes first. For waits
 * on work that cannot itself be stopped (a shared load, a user's callback that ignores the signal): the caller
 * is released at once; the work runs on, unobserved.
 */
export function raceSignal<T>(promise: Promise<T>, signal: AbortSignalLike | undefined): Promise<T> {
  if (!signal) return promise
  if (signal.aborted) {
    promise.catch(() => {})
    return Promise.reject(signal.reason)
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      promise.catch(() => {})
      reject(signal.reason)
    }
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
