/**
 * The signed HTTP transport of RFC 8555 §6: directory (§7.1.1), nonces (§6.5, §7.2), JWS-signed POSTs
 * (§6.2) and POST-as-GET (§6.3), problem documents (§6.7), and the retries every client needs:
 * `badNonce` with the nonce of the error response, 429/5xx and network failures with backoff that never
 * undercuts `Retry-After`, each retry signed with a fresh nonce.
 *
 * One instance serves one directory; it is what an `AcmeClient` holds. All state here is a nonce pool and
 * the cached directory.
 */
import {
  AcmeNetworkError,
  AcmeProblemError,
  AcmeResponseError,
  InvalidArgumentError,
  isBadNonce,
  type ProblemDocument,
} from '../errors.ts'
import type { PublicJwk } from '../jose/jwk.ts'
import { signJws } from '../jose/jws.ts'
import { anySignal, sleep, throwIfAborted } from '../lib/abort.ts'
import type {
  AbortSignalLike,
  CryptoKey,
  FetchLike,
  HeadersLike,
  ResponseLike,
  UrlLike,
} from '../lib/web-types.ts'
import { VERSION } from '../version.ts'
import { type Link, linksWithRel, parseLinks, parseRetryAfter } from './headers.ts'
import type { Directory } from './resources.ts'
import { directorySchema, parseResource, problemSchema } from './schemas.ts'

/** Retry policy for 429, 502, 503, 504 and network failures. `badNonce` is always retried (bounded). */
export interface RetryOptions {
  /** Retries of one request after a rate limit, a 5xx gateway error or a network failure (default 3). */
  retries?: number
  /**
   * Most milliseconds one request may spend waiting between attempts (default 60 000). When the server's
   * `Retry-After` asks for longer, the error is thrown at once with its `retryAfter` set.
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

/** Options of a {@link Transport}. */
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
  /** Accept an `http:` directory URL (for local test servers only). */
  allowInsecure?: boolean
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
const isBrowser = () =>
  typeof navigator !== 'undefined' &&
  typeof navigator.userAgent === 'string' &&
  navigator.userAgent.startsWith('Mozilla/5.0 ')

/** Errors thrown after an attempt whose outcome is unknown (the server may have acted on it). */
const afterLostResponse = new WeakSet<object>()

/**
 * True when `err` came from a request that was retried after an attempt that may have reached the server
 * (network failure, timeout, 5xx): a "not pending" or "already done" answer may then be our own earlier work.
 */
export function isAfterLostResponse(err: unknown): boolean {
  return typeof err === 'object' && err !== null && afterLostResponse.has(err)
}

export class Transport {
  readonly directoryUrl: string
  readonly #fetch: FetchLike
  readonly #headers: Record<string, string>
  readonly #timeout: number
  readonly #retry: Required<RetryOptions>
  readonly #nonces: string[] = []
  readonly #signal: AbortSignalLike | undefined
  #directory: Promise<Directory> | undefined

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
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init))
    this.#headers = { ...options.headers }
    if (!isBrowser()) this.#headers['user-agent'] = options.userAgent ?? `webacme/${VERSION}`
    this.#timeout = options.timeout ?? 30_000
    this.#signal = options.signal
    const retry = options.retry === false ? { retries: 0 } : (options.retry ?? {})
    this.#retry = {
      retries: retry.retries ?? 3,
      maxWait: retry.maxWait ?? 60_000,
      badNonceRetries: retry.badNonceRetries ?? 20,
    }
  }

  /** The signal of a call combined with the transport-wide one given at construction. */
  signal(perCall?: AbortSignalLike): AbortSignalLike | undefined {
    return anySignal([this.#signal, perCall])
  }

  /** The directory, fetched once and cached (a failed fetch is not cached). */
  directory(signal?: AbortSignalLike): Promise<Directory> {
    return this.#loadDirectory(this.signal(signal))
  }

  /** {@link Transport.directory} with the transport-wide signal already combined in. */
  #loadDirectory(signal: AbortSignalLike | undefined): Promise<Directory> {
    if (!this.#directory) {
      this.#directory = this.request('GET', this.directoryUrl, undefined, { signal }).then((res) =>
        parseResource(directorySchema, res.body, {
          what: 'directory',
          url: this.directoryUrl,
          status: res.status,
        }),
      )
      this.#directory.catch(() => {
        this.#directory = undefined
      })
    }
    return this.#directory
  }

  /** A nonce from the pool, or a fresh one from `newNonce` when the pool is empty (RFC 8555 §7.2). */
  nonce(signal?: AbortSignalLike): Promise<string> {
    return this.#nonce(this.signal(signal))
  }

  /** {@link Transport.nonce} with the transport-wide signal already combined in. */
  async #nonce(signal: AbortSignalLike | undefined): Promise<string> {
    const pooled = this.#nonces.pop()
    if (pooled) return pooled
    const { newNonce } = await this.#loadDirectory(signal)
    const res = await this.request('HEAD', newNonce, undefined, { signal })
    const nonce = this.#nonces.pop()
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
   * with the nonce from the error response (§6.5) and, per the retry policy, rate limits, gateway errors and
   * network failures — always re-signing with a new nonce.
   */
  async post(
    url: string,
    payload: unknown,
    signer: Signer,
    requestOptions: RequestOptions = {},
  ): Promise<AcmeResponse> {
    // Combined once: the request, its nonce, and the waits between retries all stop with either signal.
    const options = { ...requestOptions, signal: this.signal(requestOptions.signal) }
    let badNonces = 0
    return this.#withRetries(options.signal, async () => {
      for (;;) {
        const nonce = await this.#nonce(options.signal)
        const header =
          signer.kid !== undefined ? { url, nonce, kid: signer.kid } : { url, nonce, jwk: signer.jwk }
        const jws = await signJws(header, payload, signer.privateKey)
        try {
          return await this.request('POST', url, JSON.stringify(jws), options)
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
    return this.#withRetries(options.signal, () => this.request('GET', url, undefined, options))
  }

  async #withRetries(signal: AbortSignalLike | undefined, attempt: () => Promise<AcmeResponse>) {
    let waited = 0
    let uncertain = false
    for (let retry = 0; ; retry++) {
      try {
        return await attempt()
      } catch (err) {
        throwIfAborted(signal)
        const transient =
          err instanceof AcmeNetworkError ||
          ((err instanceof AcmeProblemError || err instanceof AcmeResponseError) &&
            [429, 502, 503, 504].includes(err.status))
        const retryAfter =
          err instanceof AcmeProblemError || err instanceof AcmeResponseError ? err.retryAfter : undefined
        const backoff = Math.min(10_000, 500 * 2 ** retry) * (0.5 + Math.random() / 2)
        const delay = Math.max(backoff, retryAfter ? retryAfter.getTime() - Date.now() : 0)
        if (!transient || retry >= this.#retry.retries || waited + delay > this.#retry.maxWait) {
          if (uncertain && typeof err === 'object' && err !== null) afterLostResponse.add(err)
          throw err
        }
        // A network failure or gateway error may have happened after the server acted.
        if (!(err instanceof AcmeProblemError && err.status === 429)) uncertain = true
        waited += delay
        await sleep(delay, signal)
      }
    }
  }

  /**
   * One HTTP exchange: sends, pools the `Replay-Nonce` (§6.5: from every response), reads the body, and
   * turns error statuses into {@link AcmeProblemError} or {@link AcmeResponseError}.
   */
  async request(
    method: 'GET' | 'HEAD' | 'POST',
    url: string,
    body: string | undefined,
    options: RequestOptions = {},
  ): Promise<AcmeResponse> {
    throwIfAborted(options.signal)
    const timeout = this.#timeout > 0 ? AbortSignal.timeout(this.#timeout) : undefined
    const signal = anySignal([options.signal, timeout])
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
        signal: signal ?? null,
        redirect: 'follow',
      })
      text = method === 'HEAD' ? '' : await response.text()
    } catch (cause) {
      throwIfAborted(options.signal)
      if (timeout?.aborted) {
        throw new AcmeNetworkError('ERR_TIMEOUT', `${method} ${url} timed out after ${this.#timeout} ms`, {
          url,
          cause,
        })
      }
      throw new AcmeNetworkError(
        'ERR_NETWORK',
        `${method} ${url} failed: ${(cause as Error)?.message ?? cause}`,
        {
          url,
          cause,
        },
      )
    }
    const nonce = response.headers.get('replay-nonce')
    // RFC 8555 §6.5.1: a nonce is base64url; anything else is not worth sending back.
    if (nonce && /^[A-Za-z0-9_-]+$/.test(nonce)) {
      this.#nonces.push(nonce)
      if (this.#nonces.length > NONCE_POOL_MAX) this.#nonces.shift()
    }
    const result: AcmeResponse = {
      url,
      status: response.status,
      headers: response.headers,
      body: text,
      location: resolve(response.headers.get('location'), url),
      links: parseLinks(response.headers.get('link'), url),
      retryAfter: parseRetryAfter(response.headers.get('retry-after')),
    }
    const type = response.headers.get('content-type') ?? ''
    if (/[/+]json\b/i.test(type) && text !== '') {
      try {
        result.body = JSON.parse(text)
      } catch (cause) {
        throw new AcmeResponseError(`invalid JSON from ${url} (HTTP ${response.status})`, {
          url,
          status: response.status,
          cause,
        })
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
