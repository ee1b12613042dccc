/**
 * What an HTTP response means to an ACME client: the headers ACME uses (`Location`, `Link`, `Retry-After`), a
 * JSON body parsed, and an error status turned into a typed error: a problem document (RFC 8555 §6.7, RFC 7807)
 * into {@link AcmeProblemError}, anything else into {@link AcmeResponseError}.
 */
import { AcmeProblemError, AcmeResponseError, type ProblemDocument } from '../errors.ts'
import type { HeadersLike, ResponseLike } from '../lib/web-types.ts'
import { type Link, linksWithRel, parseLinks, parseRetryAfter } from './headers.ts'
import { markTruncated } from './retry.ts'
import { parseResource, problemSchema } from './schemas.ts'

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

/**
 * The {@link AcmeResponse} of `response`, whose body was read as `text`; throws for an HTTP error status or a
 * JSON body that does not parse (marked for another attempt when it stops short of its `Content-Length`).
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc8555#section-6.7 RFC 8555 §6.7}
 */
export function acmeResponse(response: ResponseLike, text: string, url: string): AcmeResponse {
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
      if (Number.isFinite(length) && length > new TextEncoder().encode(text).length) markTruncated(err)
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
  throw new AcmeResponseError(`HTTP ${response.status} from ${url}${text ? `: ${text.slice(0, 200)}` : ''}`, {
    url,
    status: response.status,
    retryAfter: result.retryAfter,
  })
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
