/**
 * Where the delivery features keep their records: the certificate bucket under `service/` (R2 is strongly
 * consistent, so a revoked token or a replaced CSR is seen by the very next request), every record sealed with the
 * storage key like the certificates themselves (webhook secrets are secrets; the rest is sealed for uniformity).
 *
 * | key                                   | record                                            |
 * | ------------------------------------- | ------------------------------------------------- |
 * | `csr/<name>`                          | a job's certificate request ({@link JobCsr})       |
 * | `tokens/<id>`, `token-hashes/<sha256>` | a deploy token and its lookup by hash             |
 * | `deliveries/<name>`                   | how often a job's bundle was fetched              |
 * | `webhooks/<id>`                       | a webhook registration                            |
 * | `webhook-deliveries/<id>/<message>`   | one event to one webhook, with its attempts       |
 * | `webhook-pending/<id>.<message>`      | deliveries not yet done (what the cron pass resumes) |
 */
import type { Storage } from 'webacme'
import { R2Storage, sealedStorage } from 'webacme/cloudflare'
import type { Env } from '../env.ts'
import { keyRingOf } from '../storage.ts'

/** The delivery records (sealed, in the certificate bucket under `service/`). */
export async function serviceStorage(env: Env): Promise<Storage> {
  return sealedStorage(new R2Storage(env.CERTIFICATES, { prefix: 'service/' }), await keyRingOf(env))
}

/** `{ error: { code, message } }` with a status, as every API error. */
export function problem(status: number, code: string, message: string): Response {
  return Response.json({ error: { code, message } }, { status })
}

/** Lowercase hex SHA-256 of a text. */
export async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)))
  return [...digest].map((b) => b.toString(16).padStart(2, '0')).join('')
}

/** A random identifier: `prefix` + 16 hex digits. */
export function randomId(prefix: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8))
  return prefix + [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')
}

/** Base64 of bytes. */
export function base64(bytes: Uint8Array): string {
  let text = ''
  for (const byte of bytes) text += String.fromCharCode(byte)
  return btoa(text)
}

/** The request body as JSON (at most 64 KiB), or a 400/413 answer. */
export async function readJson(request: Request): Promise<unknown | Response> {
  const text = await request.text()
  if (text.length > 65_536) return problem(413, 'ERR_BODY_TOO_LARGE', 'the body is larger than 64 KiB')
  try {
    return JSON.parse(text) as unknown
  } catch {
    return problem(400, 'ERR_INVALID_JSON', 'the body must be JSON')
  }
}
