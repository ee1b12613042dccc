/**
 * The HTTP plumbing every DNS provider adapter shares: one `fetch` per adapter (injectable), per-call abort,
 * authorization headers computed per attempt (SigV4 signs each retry with a fresh date), mapping of failures to
 * {@link DnsProviderError}s by the provider's own rules, retries after throttling that never undercut the
 * provider's `Retry-After`, and valibot checks of response bodies that name the bad field.
 */
import type * as v from 'valibot'
import { sleep } from '../../lib/abort.ts'
import { validate } from '../../lib/validate.ts'
import type { AbortSignalLike, HeadersLike, ResponseLike } from '../../lib/web-types.ts'
import { parseRetryAfter } from '../../protocol/headers.ts'
import { type DnsErrorCode, DnsProviderError } from '../errors.ts'
import type { ProviderHttpOptions } from './options.ts'

export type { ProviderHttpOptions, ProviderRetryOptions } from './options.ts'

/** One provider API request. */
export interface ProviderCall {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
  url: string
  headers?: Record<string, string>
  body?: string
  signal?: AbortSignalLike | undefined
  /**
   * A read sent as POST (Porkbun reads with POST; Namecheap sends every command as a form POST): retried after a
   * 502/503/504 or a network error like a GET.
   */
  read?: boolean
}

/** A provider's response, body read as text. */
export interface ProviderResponse {
  url: string
  status: number
  headers: HeadersLike
  text: string
  response: ResponseLike
}

/** What an adapter tells {@link providerClient} about its provider. */
export interface ProviderClientConfig {
  provider: string
  options: ProviderHttpOptions
  /** Headers that authenticate one attempt (static bearer token, SigV4 signature, OAuth access token). */
  authorize?: (call: ProviderCall) => Promise<Record<string, string>> | Record<string, string>
  /** The error for a response with a status outside 2xx. */
  toError: (res: ProviderResponse) => DnsProviderError
}

export interface ProviderClient {
  readonly provider: string
  /** Sends `call`; resolves to a 2xx response, rejects with a {@link DnsProviderError} (or the abort reason). */
  request(call: ProviderCall): Promise<ProviderResponse>
  /** {@link request} with a JSON body out and a JSON body back, checked against `schema`. */
  json<T>(call: ProviderCall & { json?: unknown }, schema: v.GenericSchema<unknown, T>): Promise<T>
}

const RETRYABLE_READ = new Set([502, 503, 504])

/** Builds the request function of one adapter. */
export function providerClient(config: ProviderClientConfig): ProviderClient {
  const { provider } = config
  const retry = config.options.retry === false ? { retries: 0, maxWait: 0 } : (config.options.retry ?? {})
  const retries = Math.max(0, retry.retries ?? 3)
  const maxWait = Math.max(0, retry.maxWait ?? 30_000)
  const doFetch = config.options.fetch ?? ((input, init) => fetch(input, init))

  async function attempt(call: ProviderCall): Promise<ProviderResponse> {
    const headers = { ...call.headers, ...(await config.authorize?.(call)) }
    let response: ResponseLike
    let text: string
    try {
      response = await doFetch(call.url, {
        method: call.method,
        headers,
        ...(call.body !== undefined && { body: call.body }),
        ...(call.signal && { signal: call.signal }),
      })
      text = await response.text()
    } catch (cause) {
      if (call.signal?.aborted) throw call.signal.reason
      const reason = cause instanceof Error ? cause.message : String(cause)
      throw new DnsProviderError(
        'ERR_DNS_PROVIDER',
        `${provider}: ${call.method} ${call.url} failed: ${reason}`,
        {
          provider,
          url: call.url,
          cause,
        },
      )
    }
    const res = { url: call.url, status: response.status, headers: response.headers, text, response }
    if (response.status < 200 || response.status > 299) throw config.toError(res)
    return res
  }

  async function request(call: ProviderCall): Promise<ProviderResponse> {
    for (let n = 0; ; n++) {
      try {
        return await attempt(call)
      } catch (err) {
        if (!(err instanceof DnsProviderError) || n >= retries) throw err
        const read = call.method === 'GET' || call.read === true
        const throttled = err.code === 'ERR_DNS_RATE_LIMITED'
        const transient = read && (err.status === undefined || RETRYABLE_READ.has(err.status))
        if (!throttled && !transient) throw err
        const wait = err.retryAfter ? err.retryAfter.getTime() - Date.now() : 1000 * 2 ** n
        if (wait > maxWait) throw err
        await sleep(wait, call.signal)
      }
    }
  }

  return {
    provider,
    request,
    async json(call, schema) {
      const { json, ...rest } = call
      const res = await request(
        json === undefined
          ? rest
          : {
              ...rest,
              headers: { 'content-type': 'application/json', ...rest.headers },
              body: JSON.stringify(json),
            },
      )
      return parseBody(provider, schema, res)
    },
  }
}

/** JSON of a response, or `undefined` when the body is not JSON. */
export function jsonBody(res: ProviderResponse): unknown {
  try {
    return JSON.parse(res.text)
  } catch {
    return undefined
  }
}

/** The body checked against `schema`; a mismatch is `ERR_DNS_PROVIDER` naming the field and the URL. */
export function parseBody<T>(
  provider: string,
  schema: v.GenericSchema<unknown, T>,
  res: ProviderResponse,
): T {
  const body = res.text === '' ? undefined : jsonBody(res)
  return validate(schema, body, ({ message }) => {
    throw new DnsProviderError(
      'ERR_DNS_PROVIDER',
      `${provider}: unexpected response from ${res.url}: ${message}`,
      {
        provider,
        status: res.status,
        url: res.url,
        response: res.response,
      },
    )
  })
}

/**
 * A read-modify-write of a record set, run again from the read when the provider answers that the set changed since
 * it was read (`ERR_DNS_CONFLICT`: a failed `If-Match`, a change built on an old set), at most `retries` more times.
 */
export async function rereadOnConflict<T>(step: () => Promise<T>, retries = 2): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await step()
    } catch (err) {
      if (attempt >= retries || !(err instanceof DnsProviderError) || err.code !== 'ERR_DNS_CONFLICT')
        throw err
    }
  }
}

/** The code an HTTP status maps to when the provider's body says nothing more specific. */
export function codeForStatus(status: number): DnsErrorCode {
  if (status === 401 || status === 403) return 'ERR_DNS_AUTH'
  if (status === 429) return 'ERR_DNS_RATE_LIMITED'
  if (status === 404) return 'ERR_DNS_NOT_FOUND'
  if (status === 409 || status === 412) return 'ERR_DNS_CONFLICT'
  return 'ERR_DNS_PROVIDER'
}

/** A {@link DnsProviderError} for `res`, with `Retry-After` parsed and the response attached. */
export function responseError(
  provider: string,
  res: ProviderResponse,
  init: { code?: DnsErrorCode; message?: string; providerCode?: string | undefined; retryAfter?: Date },
): DnsProviderError {
  const detail = init.message ?? (res.text.trim().slice(0, 300) || res.response.statusText)
  return new DnsProviderError(
    init.code ?? codeForStatus(res.status),
    `${provider}: HTTP ${res.status} from ${res.url}${detail ? `: ${detail}` : ''}`,
    {
      provider,
      status: res.status,
      retryAfter: init.retryAfter ?? parseRetryAfter(res.headers.get('retry-after')),
      providerCode: init.providerCode,
      url: res.url,
      response: res.response,
    },
  )
}
