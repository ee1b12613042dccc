/**
 * A counting semaphore with an abortable, first-come-first-served queue. The transport holds one slot per
 * exchange with the CA, so a client handed a thousand issuances at once keeps a bounded number of requests (and
 * connections, TLS handshakes and response bodies) in flight, and the rest of the process stays responsive.
 */
import type { AbortSignalLike } from './web-types.ts'

export class Limiter {
  readonly #max: number
  #active = 0
  readonly #queue: Array<() => void> = []

  constructor(max: number) {
    this.#max = Math.max(1, Math.floor(max))
  }

  /** Runs `task` once a slot is free; the wait for the slot stops when `signal` aborts. */
  async run<T>(task: () => Promise<T>, signal?: AbortSignalLike): Promise<T> {
    await this.#acquire(signal)
    try {
      return await task()
    } finally {
      this.#release()
    }
  }

  #acquire(signal: AbortSignalLike | undefined): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason)
    if (this.#active < this.#max) {
      this.#active++
      return Promise.resolve()
    }
    return new Promise((resolve, reject) => {
      const grant = () => {
        signal?.removeEventListener('abort', onAbort)
        this.#active++
        resolve()
      }
      const onAbort = () => {
        const at = this.#queue.indexOf(grant)
        if (at >= 0) this.#queue.splice(at, 1)
        reject(signal?.reason)
      }
      this.#queue.push(grant)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  #release(): void {
    this.#active--
    this.#queue.shift()?.()
  }
}
