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
 * cached directory and the request slots. The parts with a concept of their own live beside it: the nonce pool
 * (./nonce-pool.ts), the retry policy (./retry.ts), the directory check (./directory.ts), the body read with a
 * size limit (./read-body.ts) and the meaning of a response (./response.ts).
 */
import {
  AcmeError,
  AcmeNetworkError,
  AcmeResponseError,
  InvalidArgumentError,
  isBadNonce,
} from '../errors.ts'
import type { PublicJwk } from '../jose/jwk.ts'
import { signJws } from '../jose/jws.ts'
import { anySignal, raceSignal, sleep, throwIfAborted } from '../lib/abort.ts'
import { Limiter } from '../lib/limiter.ts'
import { describeNetworkFailure } from '../lib/network-failure.ts'
import type { AbortSignalLike, CryptoKey, FetchLike, ResponseLike, UrlLike } from '../lib/web-types.ts'
import { VERSION } from '../version.ts'
import { CircuitBreaker } from './circuit-breaker.ts'
import { notADirectory, parseDirectory } from './directory.ts'
import { arrayNoncePool, isWellFormedNonce, type NoncePool } from './nonce-pool.ts'
import { readText } from './read-body.ts'
import type { Directory } from './resources.ts'
import { type AcmeResponse, acmeResponse } from './response.ts'
import { type RetryOptions, retryAfterOf, retryPolicy, withRetries } from './retry.ts'
import { UrlPolicy } from './url-policy.ts'

export type { NoncePool } from './nonce-pool.ts'
export type { AcmeResponse } from './response.ts'
export type { RetryOptions } from './retry.ts'
export { isAfterLostResponse, retryAfterOf } from './retry.ts'

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

const MAX_REDIRECTS = 5
const DEFAULT_MAX_RESPONSE_BYTES = 1 << 20
const isBrowser = () =>
  typeof navigator !== 'undefined' &&
  typeof navigator.userAgent === 'string' &&
  navigator.userAgent.startsWith('Mozilla/5.0 ')

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
    this.#nonces = options.nonces ?? arrayNoncePool()
    this.breaker = options.breaker === false ? undefined : (options.breaker ?? new CircuitBreaker())
    this.#retry = retryPolicy(options.retry)
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
    return this.#nonces.take() ?? withRetries(this.#retry, combined, () => this.#freshNonce(combined, false))
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
    return withRetries(this.#retry, options.signal, async (attempt) => {
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
    return withRetries(this.#retry, options.signal, (attempt) =>
      this.#exchange('GET', url, undefined, options, attempt),
    )
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
    // RFC 8555 §6.5: every response may carry a nonce; a malformed one is not worth sending back (§6.5.1).
    const nonce = response.headers.get('replay-nonce')
    if (isWellFormedNonce(nonce)) this.#nonces.add(nonce)
    return acmeResponse(response, text, url)
  }
}
