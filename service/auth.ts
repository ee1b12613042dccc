/**
 * `Authorization: Bearer <API_TOKEN>` on every API route. The comparison is of SHA-256 digests in constant time, so
 * neither the token's length nor its prefix leaks through timing; a refusal says nothing about what was asked for.
 */
import type { Env } from './env.ts'

const encoder = new TextEncoder()

async function digest(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(text)))
}

/** Whether the request carries the API token. No token configured: nothing is authorized. */
export async function authorized(request: Request, env: Env): Promise<boolean> {
  const header = request.headers.get('authorization') ?? ''
  const match = /^Bearer[ ]+(\S+)[ ]*$/i.exec(header)
  const expected = env.API_TOKEN ?? ''
  // Digests of equal length whatever was sent; compared whatever happened before.
  const [got, want] = await Promise.all([digest(match?.[1] ?? ''), digest(expected)])
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
