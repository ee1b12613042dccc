/**
 * Deploy tokens: a bearer token that may fetch the bundles (certificate, chain, key) of the names its patterns cover,
 * and nothing else. Created by the admin token, shown once, stored as its SHA-256 only; revoked at once (R2 reads
 * are strongly consistent).
 */
import { toIdentifier } from 'webacme'
import type { JobRecord } from 'webacme/cloudflare'
import type { Env } from '../env.ts'
import { problem, randomId, serviceStorage, sha256Hex } from './store.ts'

/** `tokens/<id>`: a deploy token without its secret. */
export interface DeployToken {
  id: string
  label?: string
  /** Names and patterns it covers: `a.example.com`, `*.customers.example.net` (one label), or a job's name. */
  names: string[]
  /** SHA-256 of the token, hex. */
  hash: string
  createdAt: string
}

const PREFIX = 'wdt_'
const MAX_PATTERNS = 100
const tokenKey = (id: string) => `tokens/${id}`
const hashKey = (hash: string) => `token-hashes/${hash}`

/** A pattern, checked like an identifier (`*.` then a DNS name, or a DNS name, an IP address, a job name). */
function checkPattern(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > 253) return undefined
  const lower = value.toLowerCase()
  try {
    return toIdentifier(lower).value
  } catch {
    // A job name that is not a hostname (`shop`, `_wildcard.example.com`).
    return /^[a-z0-9_][a-z0-9._~@+=,-]*$/.test(lower) ? lower : undefined
  }
}

/** `POST /api/tokens { names, label? }` → `201 { id, token, names, label? }`: the token is shown only here. */
export async function createToken(env: Env, body: unknown): Promise<Response> {
  const input = (body ?? {}) as { names?: unknown; label?: unknown }
  if (!Array.isArray(input.names) || input.names.length === 0 || input.names.length > MAX_PATTERNS) {
    return problem(400, 'ERR_INVALID_NAMES', `names must be 1 to ${MAX_PATTERNS} names or patterns`)
  }
  const names: string[] = []
  for (const value of input.names) {
    const pattern = checkPattern(value)
    if (pattern === undefined)
      return problem(400, 'ERR_INVALID_NAMES', `not a name or pattern: ${JSON.stringify(value)}`)
    names.push(pattern)
  }
  if (input.label !== undefined && (typeof input.label !== 'string' || input.label.length > 200)) {
    return problem(400, 'ERR_INVALID_LABEL', 'label must be a string of at most 200 characters')
  }
  const secret = crypto.getRandomValues(new Uint8Array(32))
  const token =
    PREFIX +
    btoa(String.fromCharCode(...secret))
      .replace(/\+/g, '-')
      .replace(/\//g, '_')
      .replace(/=+$/, '')
  const record: DeployToken = {
    id: randomId('tok_'),
    ...(input.label !== undefined && { label: input.label as string }),
    names: [...new Set(names)],
    hash: await sha256Hex(token),
    createdAt: new Date().toISOString(),
  }
  const storage = await serviceStorage(env)
  await storage.put(tokenKey(record.id), record)
  await storage.put(hashKey(record.hash), { id: record.id })
  const { hash: _, ...shown } = record
  return Response.json({ ...shown, token }, { status: 201 })
}

/** `GET /api/tokens`: every deploy token, without secrets. */
export async function listTokens(env: Env): Promise<Response> {
  const storage = await serviceStorage(env)
  const keys = await storage.list('tokens/')
  const tokens = (await Promise.all(keys.map((k) => storage.get(k) as Promise<DeployToken | undefined>)))
    .filter((t): t is DeployToken => t !== undefined)
    .map(({ hash: _, ...rest }) => rest)
  return Response.json({ tokens })
}

/** `DELETE /api/tokens/:id`: the token stops working with the next request. */
export async function revokeToken(env: Env, id: string): Promise<Response> {
  const storage = await serviceStorage(env)
  const record = (await storage.get(tokenKey(id))) as DeployToken | undefined
  if (!record) return problem(404, 'ERR_NOT_FOUND', `no token ${id}`)
  // The record first: a token is valid only while both exist.
  await storage.delete(tokenKey(id))
  await storage.delete(hashKey(record.hash))
  return Response.json({ id, revoked: true })
}

/** The deploy token a request carries, or `undefined`. */
export async function deployTokenOf(request: Request, env: Env): Promise<DeployToken | undefined> {
  const match = /^Bearer[ ]+(\S+)[ ]*$/i.exec(request.headers.get('authorization') ?? '')
  const token = match?.[1]
  if (!token?.startsWith(PREFIX) || token.length > 200) return undefined
  const storage = await serviceStorage(env)
  const index = (await storage.get(hashKey(await sha256Hex(token)))) as { id: string } | undefined
  if (!index) return undefined
  return (await storage.get(tokenKey(index.id))) as DeployToken | undefined
}

/** Whether `pattern` covers `identifier`: equal, or `*.suffix` and one more label (as a wildcard certificate). */
function matches(pattern: string, identifier: string): boolean {
  if (pattern === identifier) return true
  if (!pattern.startsWith('*.') || identifier.startsWith('*.')) return false
  const suffix = pattern.slice(1)
  return identifier.endsWith(suffix) && !identifier.slice(0, -suffix.length).includes('.')
}

/** Whether a token covers a job: its name is listed, or every identifier of the job is covered by a pattern. */
export function covers(token: DeployToken, job: Pick<JobRecord, 'name' | 'identifiers'>): boolean {
  if (token.names.includes(job.name.toLowerCase())) return true
  return job.identifiers.every((id) => token.names.some((p) => matches(p, id.toLowerCase())))
}

/** The one answer to a deploy token outside its scope, whether what it asked for exists or not. */
export function forbidden(): Response {
  return problem(403, 'ERR_FORBIDDEN', 'this token may only fetch the bundles of the names it covers')
}
