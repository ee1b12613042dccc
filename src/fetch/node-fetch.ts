/**
 * A `fetch` over `node:http` / `node:https` with keep-alive agents, for servers that Node, Bun or Deno run: the
 * client's `fetch` option. It does what webacme's transport needs of `fetch` (GET, HEAD, POST, headers, an
 * `AbortSignal`, `redirect: 'manual'`, a streamed body) at a fraction of the CPU of Node's built-in `fetch`
 * (undici): bench/README.md, issue #19.
 *
 * Its failures have the shape of Node's built-in `fetch`, so webacme classifies them the same way: a request that
 * fails rejects with `TypeError('fetch failed', { cause })` where `cause` is Node's error (`ECONNREFUSED`,
 * `ENOTFOUND`, `UNABLE_TO_VERIFY_LEAF_SIGNATURE`, ...); a body cut short errors the body stream with
 * `TypeError('terminated', { cause })`; an abort rejects with the signal's reason.
 *
 * @see https://fetch.spec.whatwg.org/#fetch-method
 * @see https://nodejs.org/api/https.html#class-httpsagent
 */

import { readFileSync } from 'node:fs'
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import * as tls from 'node:tls'

/** Options of {@link createNodeFetch}. */
export interface NodeFetchOptions {
  /**
   * More trusted CA certificates (PEM), for a private CA: added to the runtime's default roots (which include
   * `NODE_EXTRA_CA_CERTS`), never replacing them.
   */
  ca?: string | readonly string[] | undefined
  /** Most connections per origin (default: no limit, like Node's `fetch`). */
  maxSockets?: number
  /** Most idle keep-alive connections kept per origin (default 256). */
  maxFreeSockets?: number
  /** How long an idle keep-alive connection is kept, in ms (default 4,000, as undici). */
  keepAliveTimeout?: number
}

/** A `fetch` over `node:http`/`node:https`, with `close()` to end its keep-alive connections. */
export interface NodeFetch {
  /** Fetches as the Fetch standard's `fetch` does, for what webacme sends (string bodies, no streams). */
  (input: RequestInfo | URL, init?: RequestInit): Promise<Response>
  /** Closes the idle keep-alive connections and every one still in use. */
  close(): void
}

/** Statuses whose response has no body (Fetch: "null body status"). */
const NULL_BODY = new Set([101, 103, 204, 205, 304])
/** Statuses `redirect: 'follow'` follows (Fetch: "redirect status"). */
const REDIRECT = new Set([301, 302, 303, 307, 308])
/** Fetch §4.4 HTTP-redirect fetch: at most 20 redirects. */
const MAX_REDIRECTS = 20

/**
 * A `fetch` over `node:http` and `node:https` with its own keep-alive agents: pass it as the client's `fetch`
 * option. Runs in Node, Bun and Deno (their `node:https`). Trusts what `node:https` trusts (the default roots and
 * `NODE_EXTRA_CA_CERTS`) plus `options.ca`.
 *
 * @example
 * ```ts
 * import { readFileSync } from 'node:fs'
 * import { AcmeClient, generateKeyPair } from 'webacme'
 * import { createNodeFetch } from 'webacme/fetch/node'
 *
 * // A private CA (step-ca, Pebble): trust its root on top of the default ones.
 * const fetch = createNodeFetch({ ca: readFileSync('/etc/step-ca/root.pem', 'utf8') })
 * const client = new AcmeClient({
 *   directoryUrl: 'https://ca.internal:9000/acme/acme/directory',
 *   accountKey: await generateKeyPair(),
 *   fetch,
 * })
 * // ... and at shutdown:
 * fetch.close()
 * ```
 * @see https://nodejs.org/api/http.html#new-agentoptions
 */
export function createNodeFetch(options: NodeFetchOptions = {}): NodeFetch {
  const agentOptions = {
    keepAlive: true,
    keepAliveMsecs: 1000,
    maxSockets: options.maxSockets ?? Number.POSITIVE_INFINITY,
    maxFreeSockets: options.maxFreeSockets ?? 256,
    timeout: options.keepAliveTimeout ?? 4000,
  }
  const extraCa = typeof options.ca === 'string' ? [options.ca] : [...(options.ca ?? [])]
  const httpAgent = new HttpAgent(agentOptions)
  const httpsAgent = new HttpsAgent({
    ...agentOptions,
    ...(extraCa.length > 0 && { ca: [...defaultCa(), ...extraCa] }),
  })

  const send = (url: URL, init: Prepared, signal: AbortSignal | undefined): Promise<IncomingMessage> =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason)
        return
      }
      const isHttps = url.protocol === 'https:'
      if (!isHttps && url.protocol !== 'http:') {
        reject(new TypeError('fetch failed', { cause: new Error(`unsupported protocol ${url.protocol}`) }))
        return
      }
      const req = (isHttps ? httpsRequest : httpRequest)(url, {
        method: init.method,
        headers: init.headers,
        agent: isHttps ? httpsAgent : httpAgent,
      })
      const onAbort = () => {
        req.destroy()
        reject(signal?.reason)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      req.once('response', (res) => {
        signal?.removeEventListener('abort', onAbort)
        resolve(res)
      })
      // `on`, not `once`: an error after the response (the body's) must not go unhandled here.
      req.on('error', (cause) => {
        signal?.removeEventListener('abort', onAbort)
        reject(new TypeError('fetch failed', { cause }))
      })
      req.end(init.body)
    })

  const nodeFetch = async (input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> => {
    const prepared = await prepare(input, init)
    const signal = init.signal ?? (input instanceof Request ? input.signal : undefined) ?? undefined
    signal?.throwIfAborted()
    let url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url)
    for (let redirects = 0; ; redirects++) {
      const res = await send(url, prepared, signal)
      const status = res.statusCode ?? 0
      const location = res.headers.location
      if (REDIRECT.has(status) && location !== undefined && prepared.redirect !== 'manual') {
        res.resume()
        if (prepared.redirect === 'error' || redirects >= MAX_REDIRECTS) {
          throw new TypeError('fetch failed', {
            cause: new Error(`${status} redirect to ${location} (redirect: ${prepared.redirect})`),
          })
        }
        // Fetch §4.4: 303 (and 301/302 after a POST) turn into a GET without a body.
        if (status === 303 ? prepared.method !== 'HEAD' : status <= 302 && prepared.method === 'POST') {
          prepared.method = 'GET'
          prepared.body = undefined
          delete prepared.headers['content-length']
          delete prepared.headers['content-type']
        }
        url = new URL(location, url)
        continue
      }
      if (status < 200 || status > 599) {
        // Not a status a Response can carry (Fetch: a network error).
        res.destroy()
        throw new TypeError('fetch failed', { cause: new Error(`invalid HTTP status ${status}`) })
      }
      const nullBody = prepared.method === 'HEAD' || NULL_BODY.has(status)
      if (nullBody) res.resume()
      const response = new Response(nullBody ? null : bodyStream(res, signal), {
        status,
        statusText: res.statusMessage ?? '',
        headers: responseHeaders(res),
      })
      // A constructed Response has an empty url; fetch's names the URL that answered.
      Object.defineProperty(response, 'url', { value: url.href })
      if (redirects > 0) Object.defineProperty(response, 'redirected', { value: true })
      return response
    }
  }
  return Object.assign(nodeFetch, {
    close() {
      httpAgent.destroy()
      httpsAgent.destroy()
    },
  })
}

/**
 * The shared {@link createNodeFetch} of this module: default options, one keep-alive agent for `http:` and one
 * for `https:`.
 *
 * @example
 * ```ts
 * import { AcmeClient, directories, generateKeyPair } from 'webacme'
 * import { nodeFetch } from 'webacme/fetch/node'
 *
 * const client = new AcmeClient({
 *   directoryUrl: directories.letsencrypt.production,
 *   accountKey: await generateKeyPair(),
 *   fetch: nodeFetch,
 * })
 * ```
 * @see https://nodejs.org/api/https.html#https_request_url_options_callback
 */
export const nodeFetch: NodeFetch = /* @__PURE__ */ createNodeFetch()

interface Prepared {
  method: string
  headers: Record<string, string>
  body: Uint8Array | string | undefined
  redirect: RequestRedirect
}

/** Method, headers and body of a request as `node:http` takes them. */
async function prepare(input: RequestInfo | URL, init: RequestInit): Promise<Prepared> {
  const request = input instanceof Request ? input : undefined
  const method = (init.method ?? request?.method ?? 'GET').toUpperCase()
  const headers: Record<string, string> = {}
  const given = init.headers ?? request?.headers
  if (given !== undefined && !(given instanceof Headers) && !Array.isArray(given)) {
    // The plain object webacme passes: no Headers object to build.
    for (const [key, value] of Object.entries(given)) headers[key.toLowerCase()] = String(value)
  } else if (given !== undefined) {
    new Headers(given).forEach((value, key) => {
      headers[key] = value
    })
  }
  let body: Uint8Array | string | undefined
  const source = init.body !== undefined ? init.body : request?.body ? await request.arrayBuffer() : null
  if (typeof source === 'string') body = source
  else if (source instanceof URLSearchParams) {
    body = source.toString()
    headers['content-type'] ??= 'application/x-www-form-urlencoded;charset=UTF-8'
  } else if (source instanceof ArrayBuffer) body = new Uint8Array(source)
  else if (ArrayBuffer.isView(source))
    body = new Uint8Array(source.buffer, source.byteOffset, source.byteLength)
  else if (source instanceof Blob) body = new Uint8Array(await source.arrayBuffer())
  else if (source !== null && source !== undefined) {
    throw new TypeError(
      'nodeFetch sends a string, URLSearchParams, Blob, ArrayBuffer or typed-array body only',
    )
  }
  if (body !== undefined) {
    if ((method === 'GET' || method === 'HEAD') && body !== '') {
      throw new TypeError(`a ${method} request cannot have a body`)
    }
    headers['content-length'] = String(typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength)
    if (typeof body === 'string') headers['content-type'] ??= 'text/plain;charset=UTF-8'
  } else if (method === 'POST' || method === 'PUT') headers['content-length'] = '0'
  return { method, headers, body, redirect: init.redirect ?? request?.redirect ?? 'follow' }
}

function responseHeaders(res: IncomingMessage): Headers {
  const headers = new Headers()
  const raw = res.rawHeaders
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i] as string, raw[i + 1] as string)
  return headers
}

/**
 * The body of `res` as a web stream, read as the consumer pulls (so a body larger than the consumer wants is
 * never buffered): cancelling it destroys the connection; a connection that ends before the body does errors it
 * with `TypeError('terminated')`, as Node's `fetch` does.
 */
function bodyStream(res: IncomingMessage, signal: AbortSignal | undefined): ReadableStream<Uint8Array> {
  let settled = false
  let controller!: ReadableStreamDefaultController<Uint8Array>
  const fail = (error: unknown) => {
    if (settled) return
    settled = true
    signal?.removeEventListener('abort', onAbort)
    controller.error(error)
    res.destroy()
  }
  const onAbort = () => fail(signal?.reason)
  return new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c
        signal?.addEventListener('abort', onAbort, { once: true })
        res.on('data', (chunk: Buffer) => {
          if (settled) return
          controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength))
          if ((controller.desiredSize ?? 0) <= 0) res.pause()
        })
        res.once('end', () => {
          if (settled) return
          settled = true
          signal?.removeEventListener('abort', onAbort)
          controller.close()
        })
        res.on('error', (cause) => fail(new TypeError('terminated', { cause })))
        res.once('close', () => {
          // 'close' before 'end': the connection went away mid-body.
          const cause = Object.assign(new Error('premature close: the connection ended before the body'), {
            code: 'ECONNRESET',
          })
          fail(new TypeError('terminated', { cause }))
        })
      },
      pull() {
        res.resume()
      },
      cancel() {
        settled = true
        signal?.removeEventListener('abort', onAbort)
        res.destroy()
      },
    },
    // At most 64 KiB queued ahead of the reader.
    { highWaterMark: 64 * 1024, size: (chunk) => chunk?.byteLength ?? 0 },
  )
}

/** The runtime's default trusted roots, `NODE_EXTRA_CA_CERTS` included where the runtime can list them. */
function defaultCa(): readonly string[] {
  const list = (tls as { getCACertificates?: (type?: string) => string[] }).getCACertificates
  if (typeof list === 'function') return list('default')
  // Before Node 22.15 only the bundled roots can be listed: add NODE_EXTRA_CA_CERTS ourselves.
  const extra = process.env.NODE_EXTRA_CA_CERTS
  return extra ? [...tls.rootCertificates, readFileSync(extra, 'utf8')] : tls.rootCertificates
}
