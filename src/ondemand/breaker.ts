/**
 * A circuit breaker for one CA: after `threshold` consecutive failures it opens for `coolDownMs`, during which
 * nothing is sent to that CA; then one trial is let through (half-open): success closes it, failure opens it again.
 */
export class CircuitBreaker {
  #failures = 0
  #openUntil: number | undefined
  #trialRunning = false

  constructor(
    readonly threshold: number,
    readonly coolDownMs: number,
  ) {}

  get consecutiveFailures(): number {
    return this.#failures
  }

  state(now: number): 'closed' | 'open' | 'half-open' {
    if (this.#openUntil === undefined) return 'closed'
    return now < this.#openUntil || this.#trialRunning ? 'open' : 'half-open'
  }

  get openUntil(): number | undefined {
    return this.#openUntil
  }

  /** Whether a request may go to the CA now; in half-open state, takes the one trial. */
  tryPass(now: number): boolean {
    const state = this.state(now)
    if (state === 'closed') return true
    if (state === 'open') return false
    this.#trialRunning = true
    return true
  }

  success(): void {
    this.#failures = 0
    this.#openUntil = undefined
    this.#trialRunning = false
  }

  failure(now: number): void {
    this.#failures++
    this.#trialRunning = false
    if (this.#failures >= this.threshold) this.#openUntil = now + this.coolDownMs
  }

  /** Ends a trial that neither succeeded nor failed at the CA (e.g. a storage error). */
  release(): void {
    this.#trialRunning = false
  }
}
