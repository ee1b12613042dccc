/**
 * `Authorization: Bearer <API_TOKEN>` on every API route. The comparison is of SHA-256 digests in constant time, so
 * neither the token's length nor its prefix leaks through timing; a refusal says nothing about what was asked for.
 */
import type { Env } from './env.ts'

const encoder = new TextEncoder()

async function digest(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(text)))
}

/** The configured token's digest, computed once per isolate (and token). */
let expectedDigest: { token: string; digest: Promise<Uint8Array> } | undefined
/** The answer per request: the delivery routes and the API both ask, the digest is taken once. */
const answers = new WeakMap<Request, Promise<boolean>>()

/** Whether the request carries the API token. No token configured: nothing is authorized. */
export function authorized(request: Request, env: Env): Promise<boolean> {
  let answer = answers.get(request)
  if (!answer) {
    answer = check(request, env.API_TOKEN ?? '')
    answers.set(request, answer)
  }
  return answer
}

async function check(request: Request, expected: string): Promise<boolean> {
  const header = request.headers.get('authorization') ?? ''
  const match = /^Bearer[ ]+(\S+)[ ]*$/i.exec(header)
  if (expectedDigest?.token !== expected) expectedDigest = { token: expected, digest: digest(expected) }
  // Digests of equal length whatever was sent; compared whatever happened before.
  const [got, want] = await Promise.all([digest(match?.[1] ?? ''), expectedDigest.digest])
  let diff = expected === '' || !match ? 1 : 0
  for (let i = 0; i < want.length; i++) diff |= got[i]! ^ want[i]!
  return diff === 0
}

/** The one answer to a request without the right token. */
export function unauthorized(): Response {
  return Response.json(
    { error: { code: 'ERR_UNAUTHORIZED', message: 'missing or wrong bearer token' } },
    { status: 401, headers: { 'www-authenticate': 'Bearer realm="webacme"' } },
  )
}
