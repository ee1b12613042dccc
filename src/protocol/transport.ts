/**
 * The signed HTTP transport of RFC 8555 §6: directory (§7.1.1), nonces (§6.5, §7.2), JWS-signed POSTs
 * (§6.2) and POST-as-GET (§6.3), problem documents (§6.7), and what every request needs at the edge:
 * - retries of `badNonce` with the nonce of the error response, and of 429, 5xx, network failures and cut
 *   bodies with backoff that never undercuts `Retry-After` (the HTTP status decides, RFC 7807 §3.1), each
 *   retry signed with a fresh nonce;
 * - a URL policy (./url-policy.ts): `https:` on the CA's own origins only; redirects never followed for a
 *   signed request, never from https to http;
 * - a cap on response bodies, a per-attempt timeout, and a bound on requests in flight.
 *
 * One instance serves one directory; it is what an `AcmeClient` holds. All state here is a nonce pool, the
 * cached directory and the request slots.
 */
import {
  AcmeError,
  AcmeNetworkError,
  AcmeProblemError,
  AcmeResponseError,
  InvalidArgumentError,
  isBadNonce,
  type ProblemDocument,
} from '../errors.ts'
import type { PublicJwk } from '../jose/jwk.ts'
import { signJws } from '../jose/jws.ts'
import { anySignal, raceSignal, sleep, throwIfAborted } from '../lib/abort.ts'
import { joinBytes } from '../lib/bytes.ts'
import { Limiter } from '../lib/limiter.ts'
import { describeNetworkFailure } from '../lib/network-failure.ts'
import type {
  AbortSignalLike,
  CryptoKey,
  FetchLike,
  HeadersLike,
  ResponseLike,
  UrlLike,
} from '../lib/web-types.ts'
import { VERSION } from '../version.ts'
import { CaUnavailableError, CircuitBreaker } from './circuit-breaker.ts'
import { type Link, linksWithRel, parseLinks, parseRetryAfter } from './headers.ts'
import type { Directory } from './resources.ts'
import { directorySchema, parseResource, problemSchema } from './schemas.ts'
import { UrlPolicy } from './url-policy.ts'

/**
 * Retry policy for what may heal by itself: 429, 500, 502, 503, 504, a network failure, a timeout, a body cut
 * short. `badNonce` is always retried (bounded).
 */
export interface RetryOptions {
  /** Retries of one request after a transient failure (default 10). */
  retries?: number
  /**
   * Most milliseconds one request may spend retrying, counted from the end of its first attempt: the waits
   * between attempts and the attempts themselves (default 180 000). No retry starts that would wait past it;
   * when the server's `Retry-After` asks for longer, the error is thrown at once with its `retryAfter` set.
   */
  maxWait?: number
  /** `badNonce` retries of one request (default 20; Pebble rejects 5 % of nonces by default). */
  badNonceRetries?: number
}

/** Options shared by everything that makes HTTP requests (oauth4webapi-style). */
export interface HttpOptions {
  /** `fetch` to use instead of the global one (proxies, tests, request counting). */
  fetch?: FetchLike
  /** Aborts the call, including any wait. */
  signal?: AbortSignalLike
}

/** One HTTP attempt, as reported to {@link TransportOptions.onHttp}. Carries no body and no key. */
export interface HttpEvent {
  method: 'GET' | 'HEAD' | 'POST'
  url: string
  /** The HTTP status, or `undefined` when no response arrived. */
  status: number | undefined
  /** Milliseconds from sending to the whole body read (or the failure). */
  duration: number
  /** 1 for the first attempt of a request, then 2, 3, ... for its retries (`badNonce` ones included). */
  attempt: number
  /** The error this attempt ended with (a problem document, a network failure, ...), if it failed. */
  error: AcmeError | undefined
}

/** Options of the signed transport an `AcmeClient` makes requests with (also taken by `AcmeClient` itself). */
export interface TransportOptions extends HttpOptions {
  /**
   * `User-Agent` sent outside browsers (RFC 8555 §6.1: clients MUST send one). Defaults to
   * `webacme/<version>`. Browsers set their own and refuse to let scripts change it.
   */
  userAgent?: string
  /** Extra headers for every request (e.g. `Accept-Language`). */
  headers?: Record<string, string>
  /** Milliseconds one HTTP attempt may take, body included (default 30 000; 0 disables). */
  timeout?: number
  /** Retry policy, or `false` for none (`badNonce` is then still retried, as RFC 8555 §6.5 expects). */
  retry?: RetryOptions | false
  /** Accept `http:` URLs (for local test servers only). */
  allowInsecure?: boolean
  /**
   * Origins besides the directory's own and those its URLs name, for a CA that spreads over several hosts
   * (`['https://certs.ca.example']`). The client refuses every other URL with `ERR_UNTRUSTED_URL`.
   */
  allowedOrigins?: string[]
  /** Largest response body read, in bytes (default 1 MiB); a larger one fails with `ERR_RESPONSE_TOO_LARGE`. */
  maxResponseBytes?: number
  /**
   * Requests in flight at once on this transport (default 16). Issuances beyond that wait their turn instead of
   * opening more connections, so a client handed a thousand names stays responsive.
   */
  maxConcurrentRequests?: number
  /** Called after every HTTP attempt: for logs and metrics. Must not throw. */
  onHttp?: (event: HttpEvent) => void
  /**
   * Where unused nonces wait for the next request (default: a pool of 64 inside this transport). Hand several
   * transports one pool (a Worker's invocations, through a Durable Object) so that a new client starts with
   * nonces instead of asking `newNonce` (RFC 8555 §7.2).
   */
  nonces?: NoncePool
  /**
   * The CA's circuit breaker (default: a new {@link CircuitBreaker} for this transport; `false` for none). After a
   * run of attempts the CA left unanswered, requests fail at once with `ERR_CA_UNAVAILABLE` until a probe gets an
   * answer. Pass one instance to every client of the same CA so that they stop together.
   */
  breaker?: CircuitBreaker | false
}

/**
 * A pool of `Replay-Nonce` values (RFC 8555 §6.5): the transport adds the nonce of every response and takes one
 * for every signed request. Synchronous on purpose: it sits on the path of every request. A stale nonce costs one
 * `badNonce` round trip, never a failure.
 */
export interface NoncePool {
  /** A nonce to use now (the newest is best), or `undefined` when the pool is empty. */
  take(): string | undefined
  /** Keeps a nonce for a later request; a pool may drop the oldest when full. */
  add(nonce: string): void
}

/** A response after nonce bookkeeping, with the headers ACME uses already parsed. */
export interface AcmeResponse {
  url: string
  status: number
  headers: HeadersLike
  /** Parsed JSON, or the text of a non-JSON body (certificates). */
  body: unknown
  location: string | undefined
  links: Link[]
  retryAfter: Date | undefined
}

/** Who signs a request: the key, and either the account URL (`kid`) or the public JWK (`jwk`). */
export type Signer = { privateKey: CryptoKey } & (
  | { kid: string; jwk?: never }
  | { jwk: PublicJwk; kid?: never }
)

/** Per-request options. */
export interface RequestOptions {
  signal?: AbortSignalLike | undefined
  accept?: string
}

const NONCE_POOL_MAX = 64
const MAX_REDIRECTS = 5
const DEFAULT_MAX_RESPONSE_BYTES = 1 << 20
/** HTTP statuses worth another attempt: rate limited, and server or gateway trouble. */
const TRANSIENT_STATUS = new Set([429, 500, 502, 503, 504])
const isBrowser = () =>
  typeof navigator !== 'undefined' &&
  typeof navigator.userAgent === 'string' &&
  navigator.userAgent.startsWith('Mozilla/5.0 ')

/** Errors thrown after an attempt whose outcome is unknown (the server may have acted on it). */
const afterLostResponse = new WeakSet<object>()
/** Errors of a response whose body was cut short (bad JSON from a truncated read): worth another attempt. */
const truncated = new WeakSet<object>()

/**
 * True when `err` came from a request that was retried after an attempt that may have reached the server
 * (network failure, timeout, 5xx): a "not pending" or "already done" answer may then be our own earlier work.
 */
export function isAfterLostResponse(err: unknown): boolean {
  return typeof err === 'object' && err !== null && afterLostResponse.has(err)
}

/** The HTTP status of an error that came with a response (RFC 7807 §3.1: the HTTP status, not the body's). */
function httpStatus(err: unknown): number | undefined {
  return err instanceof AcmeProblemError || err instanceof AcmeResponseError ? err.status : undefined
}

/**
 * Whether another attempt may succeed: network trouble, a cut body, or a transient HTTP status. A certificate
 * this runtime does not trust will not become trusted by trying again.
 */
function isTransient(err: unknown): boolean {
  if (err instanceof AcmeNetworkError) return err.reason !== 'tls'
  if (typeof err === 'object' && err !== null && truncated.has(err)) return true
  const status = httpStatus(err)
  return status !== undefined && TRANSIENT_STATUS.has(status) && !isBadNonce(err)
}

/**
 * How many retries a failure is worth. Nothing listening or a name that does not resolve is more often a wrong URL
 * than a blip: two quick retries. Everything else transient gets the whole budget, except that three 500s in a
 * row end it: a server's own error is sometimes deterministic (Pebble answers a key change to a key in use with
 * 500).
 */
function exhausted(err: unknown, retry: number, serverErrorsInARow: number, retries: number): boolean {
  const reason = err instanceof AcmeNetworkError ? err.reason : undefined
  if (reason === 'connection-refused' || reason === 'dns') return retry >= Math.min(2, retries)
  return retry >= retries || serverErrorsInARow > 3
}

/** `Retry-After` of an error, when it carried one. */
export function retryAfterOf(err: unknown): Date | undefined {
  return err instanceof AcmeProblemError || err instanceof AcmeResponseError ? err.retryAfter : undefined
}

/**
 * The signed transport of one ACME server. Every request — directory, newNonce, signed POST, renewalInfo —
 * goes through {@link Transport.request}: one URL policy, one retry policy, one body limit, one slot limit.
 */
export class Transport {
  readonly directoryUrl: string
  /** The CA's circuit breaker every attempt passes (see {@link TransportOptions.breaker}). */
  readonly breaker: CircuitBreaker | undefined
  readonly #fetch: FetchLike
  readonly #headers: Record<string, string>
  readonly #timeout: number
  readonly #retry: Required<RetryOptions>
  readonly #nonces: NoncePool
  readonly #signal: AbortSignalLike | undefined
  readonly #urls: UrlPolicy
  readonly #maxBytes: number
  readonly #slots: Limiter
  readonly #onHttp: ((event: HttpEvent) => void) | undefined
  /** Requests the server asked us to hold until a time (`Retry-After` on an error), with that error. */
  readonly #notBefore = new Map<string, { until: number; error: unknown }>()
  #directory: Promise<Directory> | undefined
  /** The directory once loaded: every request asks for it, and most should not pay for a promise race. */
  #loaded: Directory | undefined

  constructor(directoryUrl: string | UrlLike, options: TransportOptions = {}) {
    let parsed: UrlLike
    try {
      parsed = new URL(directoryUrl)
    } catch {
      throw new InvalidArgumentError(`directory URL is not a URL: ${String(directoryUrl)}`)
    }
    if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && options.allowInsecure)) {
      // RFC 8555 §6.1: ACME MUST run over HTTPS.
      throw new InvalidArgumentError(
        `directory URL must use https: (got ${parsed.protocol}); pass allowInsecure: true for a local test server`,
      )
    }
    this.directoryUrl = parsed.href
    this.#urls = new UrlPolicy(parsed.href, {
      ...(options.allowInsecure !== undefined && { allowInsecure: options.allowInsecure }),
      ...(options.allowedOrigins !== undefined && { allowedOrigins: options.allowedOrigins }),
    })
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init))
    this.#headers = { ...options.headers }
    if (!isBrowser()) this.#headers['user-agent'] = options.userAgent ?? `webacme/${VERSION}`
    this.#timeout = options.timeout ?? 30_000
    this.#signal = options.signal
    this.#maxBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES
    this.#slots = new Limiter(options.maxConcurrentRequests ?? 16)
    this.#onHttp = options.onHttp
    this.#nonces = options.nonces ?? arrayNoncePool(NONCE_POOL_MAX)
    this.breaker = options.breaker === false ? undefined : (options.breaker ?? new CircuitBreaker())
    const retry = options.retry === false ? { retries: 0 } : (options.retry ?? {})
    this.#retry = {
      retries: retry.retries ?? 10,
      maxWait: retry.maxWait ?? 180_000,
      badNonceRetries: retry.badNonceRetries ?? 20,
    }
  }

  /** The signal of a call combined with the transport-wide one given at construction. */
  signal(perCall?: AbortSignalLike): AbortSignalLike | undefined {
    return anySignal([this.#signal, perCall])
  }

  /**
   * The URL when the client may request it: `https:` (or `http:` with `allowInsecure`) on the CA's origin or
   * an allowed one. Otherwise an `AcmeResponseError` `ERR_UNTRUSTED_URL` naming the URL and `what` it was.
   */
  checkUrl(url: string, what: string): string {
    return this.#urls.check(url, what)
  }

  /**
   * The directory, fetched once and cached. Concurrent callers share one load (retried like any request, under
   * the transport-wide signal only); each caller's own signal stops only its own wait. A failed load is not kept.
   */
  directory(signal?: AbortSignalLike): Promise<Directory> {
    if (this.#loaded) return Promise.resolve(this.#loaded)
    if (!this.#directory) {
      const load = this.get(this.directoryUrl).then(
        (res) => {
          const directory = parseDirectory(res)
          this.#urls.learn(directory)
          this.#loaded = directory
          return directory
        },
        (err: unknown) => {
          throw notADirectory(err, this.directoryUrl)
        },
      )
      this.#directory = load
      load.catch(() => {
        if (this.#directory === load) this.#directory = undefined
      })
    }
    return raceSignal(this.#directory, signal)
  }

  /**
   * A nonce from the pool, or a fresh one from `newNonce` when the pool is empty (RFC 8555 §7.2), with the retry
   * policy.
   */
  async nonce(signal?: AbortSignalLike): Promise<string> {
    const combined = this.signal(signal)
    return this.#nonces.take() ?? this.#withRetries(combined, () => this.#freshNonce(combined, false))
  }

  /**
   * One `GET newNonce` (RFC 8555 §7.2: the server MUST answer GET as it answers HEAD, with 204). GET, not HEAD:
   * Node's fetch closes the connection after every HEAD, so each nonce would cost a TLS handshake.
   * `holdingSlot`: called by a request that already holds a slot, so it must not wait for another.
   */
  async #freshNonce(signal: AbortSignalLike | undefined, holdingSlot: boolean): Promise<string> {
    const { newNonce } = await this.directory(signal)
    const res = await this.#exchange('GET', newNonce, undefined, { signal }, 1, undefined, holdingSlot)
    const nonce = this.#nonces.take()
    if (!nonce) {
      throw new AcmeResponseError(`no Replay-Nonce header from ${newNonce}`, {
        url: newNonce,
        status: res.status,
        field: 'Replay-Nonce',
      })
    }
    return nonce
  }

  /**
   * A JWS-signed POST (RFC 8555 §6.2). `payload` `""` makes it a POST-as-GET (§6.3). Retries `badNonce`
   * with the nonce from the error response (§6.5) and, per the retry policy, transient failures, always
   * re-signing with a new nonce. A replay is safe for every POST this client sends: POST-as-GET and account
   * updates are idempotent, and the client re-reads the resource when a replay of a state change (challenge,
   * finalize, deactivation, key change, revocation) finds it already done.
   */
  async post(
    url: string,
    payload: unknown,
    signer: Signer,
    requestOptions: RequestOptions = {},
  ): Promise<AcmeResponse> {
    // Combined once: the request, its nonce, and the waits between retries all stop with either signal.
    const options = { ...requestOptions, signal: this.signal(requestOptions.signal) }
    await this.directory(options.signal) // the URL policy knows the CA's origins from here on
    const target = this.#urls.check(url, 'request URL')
    // A Retry-After answers this request: newOrder for these names, not every newOrder (Let's Encrypt's limits
    // are per name set and per domain). POST-as-GET has the empty payload: the key is the resource itself.
    const gateKey = `POST ${target} ${JSON.stringify(payload)}`
    let badNonces = 0
    return this.#withRetries(options.signal, async (attempt) => {
      for (;;) {
        await this.#gate(gateKey, options.signal) // before the nonce and the signature, which a wait would age
        try {
          // The slot first, then the nonce: a request waiting its turn must not hold a nonce another could use.
          return await this.#slots.run(async () => {
            const nonce = this.#nonces.take() ?? (await this.#freshNonce(options.signal, true))
            const header =
              signer.kid !== undefined
                ? { url: target, nonce, kid: signer.kid }
                : { url: target, nonce, jwk: signer.jwk }
            const jws = await signJws(header, payload, signer.privateKey)
            const body = JSON.stringify(jws)
            return this.#exchange('POST', target, body, options, attempt + badNonces, gateKey, true)
          }, options.signal)
        } catch (err) {
          if (isBadNonce(err) && badNonces++ < this.#retry.badNonceRetries) continue
          throw err
        }
      }
    })
  }

  /** An unsigned GET (directory, RFC 9773 renewal information), with the retry policy. */
  get(url: string, requestOptions: RequestOptions = {}): Promise<AcmeResponse> {
    const options = { ...requestOptions, signal: this.signal(requestOptions.signal) }
    return this.#withRetries(options.signal, (attempt) =>
      this.#exchange('GET', url, undefined, options, attempt),
    )
  }

  /**
   * Runs `attempt` until it succeeds, a failure is not transient, or the retry budget is spent. Waits between
   * attempts back off exponentially (with jitter) and never undercut the server's `Retry-After`.
   */
  async #withRetries<T>(
    signal: AbortSignalLike | undefined,
    attempt: (attempt: number) => Promise<T>,
  ): Promise<T> {
    let retryingSince: number | undefined
    let uncertain = false
    let serverErrorsInARow = 0
    for (let retry = 0; ; retry++) {
      try {
        return await attempt(retry + 1)
      } catch (err) {
        throwIfAborted(signal)
        retryingSince ??= Date.now()
        // A request already under way when the breaker opened waits for the probe, within its budget; a new one
        // fails at once (the breaker's point).
        const waitsForProbe = retry > 0 && err instanceof CaUnavailableError
        const retryAfter = waitsForProbe ? new Date(Date.now() + err.retryIn) : retryAfterOf(err)
        const backoff = Math.min(10_000, 500 * 2 ** retry) * (0.5 + Math.random() / 2)
        const delay = Math.max(backoff, retryAfter ? retryAfter.getTime() - Date.now() : 0)
        const spent = Date.now() - retryingSince
        serverErrorsInARow = httpStatus(err) === 500 ? serverErrorsInARow + 1 : 0
        if (
          !(isTransient(err) || waitsForProbe) ||
          exhausted(err, retry, serverErrorsInARow, this.#retry.retries) ||
          spent + delay > this.#retry.maxWait
        ) {
          if (uncertain && typeof err === 'object' && err !== null) afterLostResponse.add(err)
          throw err
        }
        // Anything but a 429 may have happened after the server acted.
        if (httpStatus(err) !== 429) uncertain = true
        await sleep(delay, signal)
      }
    }
  }

  /**
   * One HTTP exchange, no retries: checks the URL, sends, pools the `Replay-Nonce` (§6.5: from every
   * response), reads the body up to the size limit, and turns error statuses into {@link AcmeProblemError} or
   * {@link AcmeResponseError}. Unsigned GET/HEAD follow up to 5 redirects, https to https on the CA's origins;
   * a signed POST follows none (its JWS names the URL it was meant for).
   */
  async request(
    method: 'GET' | 'HEAD' | 'POST',
    url: string,
    body: string | undefined,
    options: RequestOptions = {},
  ): Promise<AcmeResponse> {
    return this.#exchange(method, url, body, options, 1)
  }

  async #exchange(
    method: 'GET' | 'HEAD' | 'POST',
    url: string,
    body: string | undefined,
    options: RequestOptions,
    attempt: number,
    gateKey?: string,
    holdingSlot = false,
  ): Promise<AcmeResponse> {
    // An unauthenticated read may go to a renewalInfo host of the CA's; a signed POST only to the CA's origins.
    const access = method === 'POST' ? 'signed' : 'read'
    let target = this.#urls.check(url, 'request URL', 0, access)
    for (let redirects = 0; ; redirects++) {
      const key = gateKey ?? `${method} ${target}`
      const send = () => this.#attempt(method, target, body, options, attempt, key)
      await this.#gate(key, options.signal)
      // A caller that holds a slot (a signed POST fetching its nonce) has waited its turn already.
      const result = holdingSlot ? await send() : await this.#slots.run(send, options.signal)
      if (result.status < 300 || result.status >= 400) return result
      // A redirect. RFC 8555 names no redirects; a signed request is never re-sent elsewhere.
      const to = result.location
      if (method === 'POST' || to === undefined || redirects >= MAX_REDIRECTS) {
        throw new AcmeResponseError(
          `${method} ${target} answered ${result.status} ${to ? `to ${to}` : 'without a Location'}; ${method === 'POST' ? 'a signed request is never redirected' : 'not followed'}`,
          { url: target, status: result.status, code: 'ERR_REDIRECT' },
        )
      }
      if (new URL(to).protocol !== 'https:' && new URL(target).protocol === 'https:') {
        throw new AcmeResponseError(`${method} ${target} redirected to ${to}: never from https to http`, {
          url: to,
          status: result.status,
          code: 'ERR_REDIRECT',
        })
      }
      target = this.#urls.check(to, `redirect from ${target}`, 0, access)
    }
  }

  /**
   * Waits out a `Retry-After` the server gave on an earlier error for the same request (method, URL and, for a
   * signed POST, payload), whichever caller sent it: concurrent callers must not send what the server asked to be
   * left alone (RFC 9110 §10.2.3). A wait longer than the retry budget rethrows that error at once.
   */
  async #gate(key: string, signal: AbortSignalLike | undefined): Promise<void> {
    const entry = this.#notBefore.get(key)
    if (!entry) return
    const wait = entry.until - Date.now()
    if (wait <= 0) {
      this.#notBefore.delete(key)
      return
    }
    if (wait > this.#retry.maxWait) throw entry.error
    await sleep(wait, signal)
  }

  /** One attempt: fetch, read, classify. Reports to `onHttp`. */
  async #attempt(
    method: 'GET' | 'HEAD' | 'POST',
    url: string,
    body: string | undefined,
    options: RequestOptions,
    attempt: number,
    gateKey: string,
  ): Promise<AcmeResponse> {
    const done = this.breaker?.admit(url) // throws ERR_CA_UNAVAILABLE while the CA is not answering
    const started = Date.now()
    let status: number | undefined
    try {
      const result = await this.#send(method, url, body, options, (s) => {
        status = s
      })
      done?.(undefined)
      this.#report({ method, url, status, duration: Date.now() - started, attempt, error: undefined })
      return result
    } catch (error) {
      done?.(error)
      if (error instanceof AcmeError) {
        this.#report({ method, url, status, duration: Date.now() - started, attempt, error })
      }
      const until = retryAfterOf(error)?.getTime()
      if (until !== undefined && until > (this.#notBefore.get(gateKey)?.until ?? 0)) {
        if (this.#notBefore.size >= 256) {
          const now = Date.now()
          for (const [key, entry] of this.#notBefore) if (entry.until <= now) this.#notBefore.delete(key)
        }
        this.#notBefore.set(gateKey, { until, error })
      }
      throw error
    }
  }

  #report(event: HttpEvent): void {
    try {
      this.#onHttp?.(event)
    } catch {
      // A logging hook must not break the request it logs.
    }
  }

  async #send(
    method: 'GET' | 'HEAD' | 'POST',
    url: string,
    body: string | undefined,
    options: RequestOptions,
    onStatus: (status: number) => void,
  ): Promise<AcmeResponse> {
    throwIfAborted(options.signal)
    // One controller per attempt for the caller's signal and the timeout: cheaper than AbortSignal.timeout +
    // AbortSignal.any, which cost a measurable share of the CPU of an issuance in Node and workerd.
    const controller = new AbortController()
    let timedOut = false
    const timer =
      this.#timeout > 0
        ? setTimeout(() => {
            timedOut = true
            controller.abort(new DOMException(`timed out after ${this.#timeout} ms`, 'TimeoutError'))
          }, this.#timeout)
        : undefined
    const forward = () => controller.abort(options.signal?.reason)
    options.signal?.addEventListener('abort', forward, { once: true })
    const headers: Record<string, string> = { ...this.#headers }
    if (method === 'POST') headers['content-type'] = 'application/jose+json'
    if (options.accept) headers.accept = options.accept
    let response: ResponseLike
    let text: string
    try {
      response = await this.#fetch(url, {
        method,
        headers,
        body: body ?? null,
        signal: controller.signal,
        redirect: 'manual',
      })
      onStatus(response.status)
      text = method === 'HEAD' ? '' : await readText(response, this.#maxBytes, url)
    } catch (cause) {
      throwIfAborted(options.signal)
      if (cause instanceof AcmeResponseError) throw cause
      if (timedOut) {
        throw new AcmeNetworkError('ERR_TIMEOUT', `${method} ${url} timed out after ${this.#timeout} ms`, {
          url,
          cause,
          reason: 'timeout',
        })
      }
      const failure = describeNetworkFailure(cause)
      throw new AcmeNetworkError(
        'ERR_NETWORK',
        `${method} ${url} failed (${failure.reason}): ${failure.detail}${failure.hint ? `; ${failure.hint}` : ''}`,
        { url, cause, reason: failure.reason, hint: failure.hint },
      )
    } finally {
      clearTimeout(timer)
      options.signal?.removeEventListener('abort', forward)
    }
    // A browser answers `redirect: 'manual'` with an opaque response (status 0): a redirect it will not show.
    if (response.status === 0) {
      throw new AcmeResponseError(`${method} ${url} was redirected; redirects are not followed here`, {
        url,
        status: 0,
        code: 'ERR_REDIRECT',
      })
    }
    const nonce = response.headers.get('replay-nonce')
    // RFC 8555 §6.5.1: a nonce is base64url; anything else is not worth sending back.
    if (nonce && /^[A-Za-z0-9_-]+$/.test(nonce)) {
      this.#nonces.add(nonce)
    }
    let location: string | null | undefined
    let links: Link[] | undefined
    const result: AcmeResponse = {
      url,
      status: response.status,
      headers: response.headers,
      body: text,
      // Parsed when asked for: most responses carry a Link (Pebble's rel="index") that no caller reads.
      get location() {
        if (location === undefined) location = resolve(response.headers.get('location'), url) ?? null
        return location ?? undefined
      },
      get links() {
        if (links === undefined) links = parseLinks(response.headers.get('link'), url)
        return links
      },
      retryAfter: parseRetryAfter(response.headers.get('retry-after')),
    }
    const type = response.headers.get('content-type') ?? ''
    if (/[/+]json\b/i.test(type) && text !== '') {
      try {
        result.body = JSON.parse(text)
      } catch (cause) {
        const err = new AcmeResponseError(`invalid JSON from ${url} (HTTP ${response.status})`, {
          url,
          status: response.status,
          retryAfter: result.retryAfter,
          cause,
        })
        // A body that stops short of its Content-Length was cut in transit: another attempt may get it whole.
        const length = Number(response.headers.get('content-length'))
        if (Number.isFinite(length) && length > new TextEncoder().encode(text).length) truncated.add(err)
        throw err
      }
    }
    if (response.status < 400) return result
    if (isProblemBody(result.body)) {
      const problem = parseResource(problemSchema, result.body, {
        what: 'problem document',
        url,
        status: response.status,
      })
      throw new AcmeProblemError(problem, {
        status: response.status,
        url,
        retryAfter: result.retryAfter,
        helpUrl: linksWithRel(result.links, 'help')[0] ?? linksWithRel(result.links, 'terms-of-service')[0],
        response,
      })
    }
    throw new AcmeResponseError(
      `HTTP ${response.status} from ${url}${text ? `: ${text.slice(0, 200)}` : ''}`,
      { url, status: response.status, retryAfter: result.retryAfter },
    )
  }
}

/** The default pool: newest first, the oldest dropped beyond `max`. */
function arrayNoncePool(max: number): NoncePool {
  const nonces: string[] = []
  return {
    take: () => nonces.pop(),
    add(nonce) {
      nonces.push(nonce)
      if (nonces.length > max) nonces.shift()
    },
  }
}

const NOT_A_DIRECTORY = "does not look like an ACME directory (is it the CA's directory URL?)"

/** The directory, or an error that says the URL does not look like an ACME directory. */
function parseDirectory(res: AcmeResponse): Directory {
  if (typeof res.body !== 'object' || res.body === null) {
    throw new AcmeResponseError(
      `${res.url} ${NOT_A_DIRECTORY}: HTTP ${res.status} with a ${typeof res.body === 'string' && res.body !== '' ? 'non-JSON' : 'empty'} body`,
      { url: res.url, status: res.status },
    )
  }
  try {
    return parseResource(directorySchema, res.body, { what: 'directory', url: res.url, status: res.status })
  } catch (cause) {
    if (!(cause instanceof AcmeResponseError)) throw cause
    throw new AcmeResponseError(`${res.url} ${NOT_A_DIRECTORY}: ${cause.message}`, {
      url: res.url,
      status: res.status,
      field: cause.field,
      cause,
    })
  }
}

/** An HTTP error status on the directory URL: says so, instead of a bare "HTTP 404". */
function notADirectory(err: unknown, url: string): unknown {
  if (!(err instanceof AcmeResponseError) || err.code !== 'ERR_INVALID_RESPONSE' || err.status < 400)
    return err
  return new AcmeResponseError(`${url} ${NOT_A_DIRECTORY}: ${err.message}`, {
    url,
    status: err.status,
    retryAfter: err.retryAfter,
    cause: err,
  })
}

/**
 * The body as text, at most `limit` bytes: a declared `Content-Length` over the limit is refused before reading,
 * and a stream is cut off as soon as it passes the limit.
 */
async function readText(response: ResponseLike, limit: number, url: string): Promise<string> {
  const tooLarge = (size: string) =>
    new AcmeResponseError(`the response from ${url} is larger than ${limit} bytes (${size})`, {
      url,
      status: response.status,
      code: 'ERR_RESPONSE_TOO_LARGE',
    })
  const declared = Number(response.headers.get('content-length') ?? Number.NaN)
  const stream = (response as { body?: ReadableStream<Uint8Array> | null }).body
  if (Number.isFinite(declared) && declared > limit) {
    await stream?.cancel().catch(() => {})
    throw tooLarge(`Content-Length ${declared}`)
  }
  // A declared length within the limit bounds the body (fetch reads no more than it): the cheap path.
  if (Number.isFinite(declared) || !stream || typeof stream.getReader !== 'function') {
    const text = await response.text()
    if (text.length > limit) throw tooLarge(`${text.length} characters`)
    return text
  }
  const reader = stream.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > limit) {
      await reader.cancel().catch(() => {})
      throw tooLarge('more was sent')
    }
    chunks.push(value)
  }
  return new TextDecoder().decode(chunks.length === 1 ? chunks[0] : joinBytes(chunks))
}

function isProblemBody(body: unknown): body is ProblemDocument {
  return typeof body === 'object' && body !== null && typeof (body as { type?: unknown }).type === 'string'
}

function resolve(location: string | null, base: string): string | undefined {
  if (!location) return undefined
  try {
    return new URL(location, base).href
  } catch {
    return undefined
  }
}
