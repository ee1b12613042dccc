/**
 * What the command prints. Progress goes to stderr, one line per step with the elapsed time; the result goes to
 * stdout, as text or (`--json`) as one JSON object. `--verbose` adds one stderr line per HTTP attempt from the
 * library's `onHttp` hook: method, URL, status, time, attempt; never a body, a header or a key.
 */
import type { HttpEvent } from 'webacme'
import { isAcmeError } from 'webacme'

export interface ReporterOptions {
  json: boolean
  verbose: boolean
  quiet: boolean
  /** Where progress goes (default: process.stderr). */
  stderr?: { write(text: string): unknown }
}

/** Prints progress, requests and the result of one command. */
export class Reporter {
  readonly json: boolean
  readonly verbose: boolean
  readonly quiet: boolean
  readonly #started = performance.now()
  readonly #stderr: { write(text: string): unknown }
  /** HTTP attempts seen so far (the `requests` count of the result). */
  requests = 0

  constructor(options: ReporterOptions) {
    this.json = options.json
    this.verbose = options.verbose
    this.quiet = options.quiet
    this.#stderr = options.stderr ?? process.stderr
  }

  /** Milliseconds since the command started. */
  elapsed(): number {
    return Math.round(performance.now() - this.#started)
  }

  #stamp(): string {
    return `[${(this.elapsed() / 1000).toFixed(1).padStart(5)}s]`
  }

  /** One progress line: `[  1.2s] ordering example.com`. */
  step(message: string): void {
    if (!this.quiet) this.#stderr.write(`${this.#stamp()} ${message}\n`)
  }

  /** A warning, printed even with --quiet. */
  warn(message: string): void {
    this.#stderr.write(`warning: ${message}\n`)
  }

  /** The library's `onHttp` hook: counts every attempt, logs it with --verbose. */
  readonly onHttp = (event: HttpEvent): void => {
    this.requests++
    if (this.verbose) {
      this.#stderr.write(`${this.#stamp()} ${formatHttp('acme', event)}\n`)
      return
    }
    // Without --verbose, a failure that is retried (network, 429, 5xx) still shows, so a wait is never silent.
    const transient = event.status === undefined || event.status === 429 || event.status >= 500
    if (event.error && transient) {
      const reason = 'reason' in event.error ? ` (${event.error.reason})` : ''
      this.step(`${event.method} ${event.url}: ${event.error.code}${reason}, attempt ${event.attempt}`)
    }
  }

  /** Logs a request of a DNS provider adapter (through its injected fetch), with --verbose. */
  dnsHttp(event: {
    method: string
    url: string
    status: number | undefined
    duration: number
    error?: unknown
  }): void {
    if (!this.verbose) return
    this.#stderr.write(
      `${this.#stamp()} ${formatHttp('dns', { ...event, attempt: 1, error: undefined })}${event.error ? ` ${errorText(event.error)}` : ''}\n`,
    )
  }
}

function formatHttp(
  who: string,
  e: {
    method: string
    url: string
    status: number | undefined
    duration: number
    attempt: number
    error: unknown
  },
): string {
  const status = e.status === undefined ? '---' : String(e.status)
  const attempt = e.attempt > 1 ? ` attempt ${e.attempt}` : ''
  const error = isAcmeError(e.error) ? ` ${e.error.code}` : ''
  return `${who} ${e.method} ${redactUrl(e.url)} ${status} ${Math.round(e.duration)}ms${attempt}${error}`
}

/** URLs carry no secrets in ACME, but a DNS provider's might (a token in the query): drop queries' values. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.username || u.password) {
      u.username = ''
      u.password = ''
    }
    for (const key of [...u.searchParams.keys()]) {
      if (/token|key|secret|password|signature|auth/i.test(key)) u.searchParams.set(key, '***')
    }
    return u.href
  } catch {
    return url
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** The fields of an error worth showing to a script: code, class, the CA's problem, retry time, hint. */
export function describeError(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { message: String(err) }
  const out: Record<string, unknown> = { name: err.name, message: err.message }
  const e = err as unknown as Record<string, unknown>
  for (const key of [
    'code',
    'status',
    'type',
    'detail',
    'url',
    'field',
    'reason',
    'hint',
    'helpUrl',
    'identifier',
    'provider',
    'providerCode',
  ]) {
    if (e[key] !== undefined) out[key] = e[key]
  }
  if (err.name === 'AbortError' && typeof e.code !== 'string') out.code = 'ERR_INTERRUPTED'
  if (e.hookExitCode !== undefined) out.hookExitCode = e.hookExitCode
  if (e.retryAfter instanceof Date) out.retryAfter = e.retryAfter.toISOString()
  if (Array.isArray(e.subproblems) && e.subproblems.length) out.subproblems = e.subproblems
  if (isAcmeError(err) && 'problem' in err && err.problem) out.problem = err.problem
  return out
}

/** Human lines for an error: the message, the CA's problem detail, a retry time, a hint. */
export function errorLines(err: unknown): string[] {
  if (!(err instanceof Error)) return [String(err)]
  const lines = [isAcmeError(err) ? `${err.message} [${err.code}]` : err.message]
  const e = err as unknown as Record<string, unknown>
  if (e.retryAfter instanceof Date) lines.push(`retry after ${e.retryAfter.toISOString()}`)
  if (typeof e.helpUrl === 'string') lines.push(`see ${e.helpUrl}`)
  if (typeof e.hint === 'string') lines.push(`hint: ${e.hint}`)
  let cause = (err as { cause?: unknown }).cause
  for (let depth = 0; cause instanceof Error && depth < 3; depth++) {
    if (!lines[0]!.includes(cause.message)) lines.push(`cause: ${cause.message}`)
    cause = (cause as { cause?: unknown }).cause
  }
  return lines
}

/** Writes text to stdout and resolves once it is flushed (a pipe is written asynchronously). */
export function writeStdout(text: string): Promise<void> {
  return new Promise((resolve) => {
    if (text === '') return resolve()
    process.stdout.write(text, () => resolve())
  })
}
