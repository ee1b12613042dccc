/** At most `limit` events in any `windowMs` (a sliding window of the last `limit` event times). */
export class SlidingWindow {
  readonly #times: number[] = []
  constructor(
    readonly limit: number,
    readonly windowMs = 60_000,
  ) {}

  /** Records one event at `now` and resolves `true`, or `false` (recording nothing) when the window is full. */
  take(now: number): boolean {
    while (this.#times.length > 0 && this.#times[0]! <= now - this.windowMs) this.#times.shift()
    if (this.#times.length >= this.limit) return false
    this.#times.push(now)
    return true
  }
}
