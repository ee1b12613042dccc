/**
 * http-01 (RFC 8555 §8.3) on Workers: the key authorizations live in KV, so the Worker that answers the CA's
 * `GET /.well-known/acme-challenge/<token>` need not be the one that presented the challenge (a queue consumer
 * presents, the fetch handler answers).
 */
import { type Http01Solver, type Http01Store, http01Solver } from '../challenges/http-01.ts'
import { http01Path } from '../challenges/key-authorization.ts'
import type { ChallengeContext } from '../challenges/solver.ts'
import { sleep } from '../lib/abort.ts'
import type { RequestLike, ResponseLike } from '../lib/web-types.ts'
import type { KvNamespaceLike } from './types.ts'

/** Options of {@link kvHttp01Store} and {@link kvHttp01Solver}. */
export interface KvHttp01Options {
  /** KV key prefix of the tokens (default `acme-challenge/`). */
  prefix?: string
  /**
   * Seconds after which KV drops a token nobody cleaned up (default 3600; KV's minimum is 60). A crashed run's tokens
   * disappear by themselves; cleanup normally removes them at once.
   */
  ttl?: number
}

/**
 * An {@link Http01Store} in a KV namespace: `token` → key authorization, with an expiry.
 *
 * @example
 * ```ts
 * import { http01Solver } from 'webacme'
 * import { kvHttp01Store, type KvNamespaceLike } from 'webacme/cloudflare'
 *
 * declare const env: { CHALLENGES: KvNamespaceLike }
 * const http01 = http01Solver({ store: kvHttp01Store(env.CHALLENGES) })
 * console.log(http01.type)
 * ```
 */
export function kvHttp01Store(kv: KvNamespaceLike, options: KvHttp01Options = {}): Http01Store {
  const prefix = options.prefix ?? 'acme-challenge/'
  const ttl = Math.max(60, options.ttl ?? 3600)
  return {
    async get(token) {
      return (await kv.get(prefix + token, 'text')) ?? undefined
    },
    set: (token, keyAuthorization) => kv.put(prefix + token, keyAuthorization, { expirationTtl: ttl }),
    delete: (token) => kv.delete(prefix + token),
  }
}

/** Options of {@link kvHttp01Solver}. */
export interface KvHttp01SolverOptions extends KvHttp01Options {
  /**
   * Milliseconds to wait after writing a token before the CA is told to look (default 0). KV is eventually
   * consistent: a token written in one location can take up to 60 s to be readable in the location that serves the
   * CA's request, and a miss read there before is cached as long. On Cloudflare, give 60 000 when the CA's
   * validation reaches other locations than the consumer's.
   */
  propagationDelay?: number
}

/**
 * An http-01 solver whose tokens live in KV ({@link kvHttp01Store}), with an optional wait for KV to propagate.
 * Answer the CA with {@link acmeChallengeResponse} (or the solver's `handle`) in the fetch handler.
 */
export function kvHttp01Solver(kv: KvNamespaceLike, options: KvHttp01SolverOptions = {}): Http01Solver {
  const solver = http01Solver({ store: kvHttp01Store(kv, options) })
  const delay = options.propagationDelay ?? 0
  if (delay <= 0) return solver
  return { ...solver, ready: (context: ChallengeContext) => sleep(delay, context.signal) }
}

const PREFIX = http01Path('')
const TOKEN = /^[A-Za-z0-9_-]+$/

/**
 * The route for `/.well-known/acme-challenge/*`: `undefined` for any other path (so the caller's routing goes on);
 * for a challenge path, the key authorization (200, `text/plain`) or a 404. Only GET and HEAD (405 otherwise).
 *
 * @example
 * ```ts
 * import { acmeChallengeResponse, kvHttp01Store, type KvNamespaceLike } from 'webacme/cloudflare'
 *
 * declare const env: { CHALLENGES: KvNamespaceLike }
 * export default {
 *   async fetch(request: Request): Promise<Response> {
 *     return (await acmeChallengeResponse(request, kvHttp01Store(env.CHALLENGES))) ?? new Response('not found', { status: 404 })
 *   },
 * }
 * ```
 * @see {@link https://www.rfc-editor.org/rfc/rfc8555#section-8.3 RFC 8555 §8.3}
 */
export async function acmeChallengeResponse(
  request: RequestLike,
  store: Pick<Http01Store, 'get'>,
): Promise<ResponseLike | undefined> {
  const { pathname } = new URL(request.url)
  if (!pathname.startsWith(PREFIX)) return undefined
  const headers = { 'content-type': 'text/plain', 'cache-control': 'no-store' }
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    return new Response('method not allowed', { status: 405, headers: { ...headers, allow: 'GET, HEAD' } })
  }
  const token = pathname.slice(PREFIX.length)
  const keyAuthorization = TOKEN.test(token) ? await store.get(token) : undefined
  if (keyAuthorization === undefined) return new Response('not found', { status: 404, headers })
  return new Response(request.method === 'HEAD' ? null : keyAuthorization, { headers })
}
