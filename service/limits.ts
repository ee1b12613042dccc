/**
 * The CA's limits as the service counts them (issue 16, "The CA's limits as Let's Encrypt counts them"): per CA,
 * from built-in defaults for Let's Encrypt's two directories, then the `LIMIT_*` vars, then `CA_LIMITS` (JSON, per
 * directory URL); and what a `429 rateLimited` names, read from its problem detail.
 *
 * Registered domains come from the Public Suffix List through `tldts` (a maintained npm package that carries the list
 * and runs in Workers): the service's own dependency, not the library's.
 *
 * @see https://letsencrypt.org/docs/rate-limits/
 */
import { getDomain } from 'tldts'
import { identifierSetKey, LETS_ENCRYPT_LIMITS, type LimitName, type RateLimits } from 'webacme/cloudflare'

type Window = { limit: number; windowSeconds: number }
const DAY = 24 * 60 * 60

/** Let's Encrypt staging's limits (its rate-limits page: far higher than production's). */
const LETS_ENCRYPT_STAGING_LIMITS: RateLimits = {
  pendingAuthorizations: 300,
  newOrders: { limit: 1500, windowSeconds: 3 * 60 * 60 },
  requestsPerSecond: 20,
  certificatesPerDomain: { limit: 30_000, windowSeconds: 7 * DAY },
  duplicateCertificates: { limit: 30_000, windowSeconds: 7 * DAY },
  failedAuthorizations: { limit: 200, windowSeconds: 60 * 60 },
}

/** Built-in limits per CA directory; any other CA starts from Let's Encrypt's account-wide limits only. */
const KNOWN: Record<string, RateLimits> = {
  'https://acme-v02.api.letsencrypt.org/directory': LETS_ENCRYPT_LIMITS,
  'https://acme-staging-v02.api.letsencrypt.org/directory': LETS_ENCRYPT_STAGING_LIMITS,
}
const OTHER_CA: RateLimits = {
  pendingAuthorizations: LETS_ENCRYPT_LIMITS.pendingAuthorizations,
  newOrders: LETS_ENCRYPT_LIMITS.newOrders,
  requestsPerSecond: LETS_ENCRYPT_LIMITS.requestsPerSecond,
}

/** The vars that set limits (each optional; `0` turns an optional limit off). */
export interface LimitVars {
  LIMIT_PENDING_AUTHORIZATIONS?: string | undefined
  LIMIT_NEW_ORDERS?: string | undefined
  LIMIT_NEW_ORDERS_WINDOW_SECONDS?: string | undefined
  LIMIT_REQUESTS_PER_SECOND?: string | undefined
  LIMIT_CERTIFICATES_PER_DOMAIN?: string | undefined
  LIMIT_CERTIFICATES_PER_DOMAIN_WINDOW_SECONDS?: string | undefined
  LIMIT_DUPLICATE_CERTIFICATES?: string | undefined
  LIMIT_DUPLICATE_CERTIFICATES_WINDOW_SECONDS?: string | undefined
  LIMIT_FAILED_AUTHORIZATIONS?: string | undefined
  LIMIT_FAILED_AUTHORIZATIONS_WINDOW_SECONDS?: string | undefined
  /** JSON: `{ "<directory URL>": { ...RateLimits fields } }`, for the CA whose directory it names. */
  CA_LIMITS?: string | undefined
}

function number(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value.trim() === '') return undefined
  const n = Number(value)
  if (!Number.isFinite(n) || n < 0)
    throw new Error(`${name} must be a non-negative number, not ${JSON.stringify(value)}`)
  return n
}

function windowed(
  base: Window | undefined,
  limit: string | undefined,
  seconds: string | undefined,
  name: string,
): Window | undefined {
  const l = number(limit, name)
  const w = number(seconds, `${name}_WINDOW_SECONDS`)
  if (l === 0) return undefined
  if (l === undefined && w === undefined) return base
  const windowSeconds = w ?? base?.windowSeconds
  const count = l ?? base?.limit
  if (windowSeconds === undefined || count === undefined) {
    throw new Error(`${name} needs both ${name} and ${name}_WINDOW_SECONDS`)
  }
  return { limit: count, windowSeconds }
}

/** The limits for the CA at `directoryUrl`: built-in, then the vars, then `CA_LIMITS[directoryUrl]`. */
export function limitsFor(vars: LimitVars, directoryUrl: string): RateLimits {
  const base = KNOWN[directoryUrl] ?? OTHER_CA
  const limits: RateLimits = {
    pendingAuthorizations:
      number(vars.LIMIT_PENDING_AUTHORIZATIONS, 'LIMIT_PENDING_AUTHORIZATIONS') ?? base.pendingAuthorizations,
    newOrders: windowed(
      base.newOrders,
      vars.LIMIT_NEW_ORDERS,
      vars.LIMIT_NEW_ORDERS_WINDOW_SECONDS,
      'LIMIT_NEW_ORDERS',
    ) ?? {
      limit: Number.MAX_SAFE_INTEGER,
      windowSeconds: 1,
    },
    requestsPerSecond:
      number(vars.LIMIT_REQUESTS_PER_SECOND, 'LIMIT_REQUESTS_PER_SECOND') ?? base.requestsPerSecond,
  }
  const optional = [
    ['certificatesPerDomain', 'LIMIT_CERTIFICATES_PER_DOMAIN'],
    ['duplicateCertificates', 'LIMIT_DUPLICATE_CERTIFICATES'],
    ['failedAuthorizations', 'LIMIT_FAILED_AUTHORIZATIONS'],
  ] as const
  for (const [key, name] of optional) {
    const value = windowed(base[key], vars[name], vars[`${name}_WINDOW_SECONDS` as keyof LimitVars], name)
    if (value) limits[key] = value
  }
  if (vars.CA_LIMITS?.trim()) {
    let table: Record<string, Partial<RateLimits>>
    try {
      table = JSON.parse(vars.CA_LIMITS) as Record<string, Partial<RateLimits>>
    } catch {
      throw new Error(
        'CA_LIMITS must be JSON: { "<directory URL>": { "newOrders": { "limit": 300, "windowSeconds": 10800 }, ... } }',
      )
    }
    Object.assign(limits, table[directoryUrl] ?? {})
  }
  return limits
}

/** The registered domain of a hostname (Public Suffix List, ICANN and private sections), if it has one. */
export function registeredDomain(hostname: string): string | undefined {
  return getDomain(hostname, { allowPrivateDomains: true }) ?? undefined
}

/** What a `429 rateLimited` refusal of a new order names, read from its problem detail. */
export interface Refusal {
  limit?: LimitName
  key?: string
  retryAfter: number
  stated?: { limit: number; windowSeconds: number }
}

/**
 * Reads which limit a refusal names: Let's Encrypt's wording ("too many new orders (300) from this account in the
 * last 3h0m0s", "too many certificates (50) already issued for \"example.com\"", "... for this exact set of
 * identifiers", "too many failed authorizations (5) for \"x\"", "too many currently pending authorizations") and
 * similar. Unknown wording names no limit: the account pauses until the Retry-After.
 */
export function readRefusal(detail: string, identifiers: string[], retryAfter: number): Refusal {
  const text = detail.toLowerCase()
  const count = /\((\d+)\)/.exec(text)?.[1]
  const window = /in the last ((?:\d+h)?(?:\d+m)?(?:\d+(?:\.\d+)?s)?)/.exec(text)?.[1]
  const seconds = window ? durationSeconds(window) : undefined
  const stated = count !== undefined && seconds ? { limit: Number(count), windowSeconds: seconds } : undefined
  const quoted = /for "([^"]+)"/.exec(detail)?.[1]?.toLowerCase()
  if (/pending authorizations/.test(text)) {
    return {
      limit: 'pending-authorizations',
      retryAfter,
      ...(count !== undefined && { stated: { limit: Number(count), windowSeconds: 1 } }),
    }
  }
  if (/new orders/.test(text)) return { limit: 'new-orders', retryAfter, ...(stated && { stated }) }
  if (/exact set of (identifiers|domains)|duplicate/.test(text)) {
    return { limit: 'duplicate-certificates', key: `set:${identifierSetKey(identifiers)}`, retryAfter }
  }
  if (/failed (authorizations|validations)/.test(text)) {
    const identifier = quoted && identifiers.includes(quoted) ? quoted : identifiers[0]
    return { limit: 'failed-authorizations', key: `identifier:${identifier}`, retryAfter }
  }
  if (/certificates/.test(text) && /registered domain|already issued for/.test(text)) {
    const domain = quoted ?? registeredDomain(identifiers[0]?.replace(/^\*\./, '') ?? '')
    return { limit: 'certificates-per-domain', ...(domain && { key: `domain:${domain}` }), retryAfter }
  }
  return { retryAfter }
}

function durationSeconds(text: string): number | undefined {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$/.exec(text)
  if (!m) return undefined
  const total = Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0)
  return total > 0 ? total : undefined
}
