/**
 * The tail of a child process's output, as the harnesses keep it (Pebble, the runtimes' agents): at least the last
 * `limit` characters, for failure messages and for waiting on a line the process prints. Appending costs the length
 * of what is appended, not of what is kept: under load Pebble writes thousands of lines a second, and trimming the
 * whole tail on every append copied hundreds of megabytes a second in the test process (and Pebble blocks when its
 * log pipe is full).
 */
export class OutputTail {
  private parts: string[] = []
  private size = 0
  private total = 0
  private readonly waiters = new Set<() => void>()

  constructor(private readonly limit: number) {}

  append(chunk: string): void {
    this.parts.push(chunk)
    this.size += chunk.length
    this.total += chunk.length
    if (this.size > 2 * this.limit) {
      let drop = 0
      while (this.size - this.parts[drop]!.length >= this.limit) this.size -= this.parts[drop++]!.length
      this.parts = this.parts.slice(drop)
    }
    for (const wake of this.waiters) wake()
  }

  toString(): string {
    if (this.parts.length > 1) this.parts = [this.parts.join('')]
    return this.parts[0] ?? ''
  }

  /** The last `lines` lines. */
  tail(lines = 40): string {
    return this.toString().trimEnd().split('\n').slice(-lines).join('\n')
  }

  /** A position in the output, for {@link OutputTail.since}. */
  mark(): number {
    return this.total
  }

  /** What was appended after `mark` (as far as the tail still holds it). */
  since(mark: number): string {
    const text = this.toString()
    return text.slice(Math.max(0, text.length - (this.total - mark)))
  }

  /**
   * Resolves with `find(output since mark)` as soon as it is defined, re-checked on every append: output
   * arrives on its own pipe, after or before the reply it belongs to. Undefined if nothing matching arrived
   * within `failAfterMs` (a bound for failing, never a condition for passing).
   */
  async waitFor<T>(
    mark: number,
    find: (output: string) => T | undefined,
    failAfterMs: number,
  ): Promise<T | undefined> {
    const deadline = Date.now() + failAfterMs
    for (;;) {
      const found = find(this.since(mark))
      if (found !== undefined || Date.now() >= deadline) return found
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer)
          this.waiters.delete(wake)
          resolve()
        }
        const timer = setTimeout(wake, Math.max(0, deadline - Date.now()))
        this.waiters.add(wake)
      })
    }
  }
}
