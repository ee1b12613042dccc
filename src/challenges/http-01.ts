/**
 * http-01 (RFC 8555 §8.3): a token store with a `fetch`-style handler. Plug `handle` into a Workers `fetch`
 * handler, `Deno.serve`, `Bun.serve` or a Node server; the CA fetches
 * `http://<domain>/.well-known/acme-challenge/<token>` and expects the key authorization as the body.
 */

import type { RequestLike, ResponseLike } from '../lib/web-types.ts'
import type { Identifier } from '../protocol/resources.ts'
import { http01Path } from './key-authorization.ts'
import type { ChallengeContext, ChallengeSolver } from './solver.ts'

/** Where tokens live: in memory by default; a KV namespace or a shared cache for several instances. */
export interface Http01Store {
  get(token: string): Promise<string | undefined> | string | undefined
  set(token: string, keyAuthorization: string): unknown
  delete(token: string): unknown
}

/** An http-01 solver that also answers the CA's requests. */
export interface Http01Solver extends ChallengeSolver {
  readonly type: 'http-01'
  /**
   * Answers a request for `/.well-known/acme-challenge/<token>` with the key authorization (200,
   * `text/plain`), or resolves to `undefined` when the request is not one this solver knows, so the caller's
   * own routing can go on.
   */
  handle(request: RequestLike): Promise<ResponseLike | undefined>
  /** The key authorization for a request path, or `undefined` (for servers without `Request`). */
  lookup(pathname: string): Promise<string | undefined>
}

const PREFIX = http01Path('')
const TOKEN = /^[A-Za-z0-9_-]+$/

/**
 * Creates an http-01 solver backed by `store` (default: an in-memory `Map`).
 *
 * @example
 * ```ts
 * import { http01Solver } from 'webacme'
 *
 * const http01 = http01Solver()
 * export default {
 *   async fetch(request: Request): Promise<Response> {
 *     return (await http01.handle(request)) ?? new Response('not found', { status: 404 })
 *   },
 * }
 * ```
 * @see {@link https://www.rfc-editor.org/rfc/rfc8555#section-8.3 RFC 8555 §8.3}
 */
export function http01Solver(options: { store?: Http01Store } = {}): Http01Solver {
  const store: Http01Store = options.store ?? new Map<string, string>()
  const lookup = async (pathname: string) => {
    if (!pathname.startsWith(PREFIX)) return undefined
    const token = pathname.slice(PREFIX.length)
    return TOKEN.test(token) ? await store.get(token) : undefined
  }
  return {
    type: 'http-01',
    // RFC 8555 §7.1.3: wildcard names cannot be validated over http-01.
    canSolve: (identifier: Identifier) => !identifier.value.startsWith('*.'),
    async present({ challenge, keyAuthorization }: ChallengeContext) {
      if (challenge.token && keyAuthorization) await store.set(challenge.token, keyAuthorization)
    },
    async cleanup({ challenge }: ChallengeContext) {
      if (challenge.token) await store.delete(challenge.token)
    },
    lookup,
    async handle(request: RequestLike) {
      if (request.method !== 'GET' && request.method !== 'HEAD') return undefined
      const body = await lookup(new URL(request.url).pathname)
      if (body === undefined) return undefined
      return new Response(request.method === 'HEAD' ? null : body, {
        headers: { 'content-type': 'text/plain', 'cache-control': 'no-store' },
      })
    },
  }
}
