/**
 * Names as the manager sees them: the TLS server name (SNI, RFC 6066 §3: a DNS host name, never an IP literal)
 * normalised, the allow policy, and the storage name of a certificate.
 *
 * @module
 */
import { InvalidArgumentError } from '../errors.ts'
import { normalizeIdentifier, tryParseIpAddress } from '../protocol/identifiers.ts'
import type { AllowContext, AllowPolicy } from './types.ts'

/**
 * A server name in canonical form (lower case, no trailing dot, A-labels), or `undefined` when it is not a DNS
 * host name: an IP literal (RFC 6066 §3 forbids them in SNI), a wildcard, over 253 characters or malformed.
 */
export function normalizeServerName(name: string): string | undefined {
  if (typeof name !== 'string' || name.length === 0 || name.length > 254) return undefined
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name
  if (trimmed.includes('*') || tryParseIpAddress(trimmed)) return undefined
  try {
    const { value } = normalizeIdentifier({ type: 'dns', value: trimmed })
    return value.includes('.') ? value : undefined
  } catch {
    return undefined
  }
}

/** A name or a wildcard (`*.example.com`) in canonical form, for `ensure` and allow lists. */
export function normalizeCertificateName(name: string): string {
  const { value } = normalizeIdentifier({ type: 'dns', value: name })
  return value
}

/** The storage segment of a certificate name: `*.example.com` is kept as `wildcard_.example.com`. */
export function storageName(name: string): string {
  return name.startsWith('*.') ? `wildcard_${name.slice(1)}` : name
}

/** The wildcard that covers `name` (`a.example.com` → `*.example.com`), if it has a parent with a dot. */
export function coveringWildcard(name: string): string | undefined {
  const dot = name.indexOf('.')
  const parent = name.slice(dot + 1)
  return dot > 0 && parent.includes('.') ? `*.${parent}` : undefined
}

/**
 * The policy as one function. A list matches exact names and `*.` patterns (one label: `*.example.com`
 * matches `a.example.com`, not `example.com` nor `a.b.example.com`), case-insensitively.
 *
 * @throws {InvalidArgumentError} When the policy is missing (there is no allow-all default) or a list entry is
 *   not a name.
 */
export function compileAllow(
  policy: AllowPolicy | undefined,
): (name: string, context: AllowContext) => boolean | Promise<boolean> {
  if (typeof policy === 'function') return policy
  if (!Array.isArray(policy)) {
    throw new InvalidArgumentError(
      'createCertificateManager needs `allow`: a list of names and *.patterns, or a function (name, { remoteAddress }) => boolean. There is no default that allows every name: it lets anyone spend your CA rate limit.',
    )
  }
  const exact = new Set<string>()
  const parents = new Set<string>()
  for (const entry of policy as readonly string[]) {
    if (typeof entry !== 'string')
      throw new InvalidArgumentError(`allow entries must be strings, got ${String(entry)}`)
    const name = normalizeCertificateName(entry)
    if (name.startsWith('*.')) parents.add(name.slice(2))
    else exact.add(name)
  }
  return (name) => {
    if (exact.has(name)) return true
    const dot = name.indexOf('.')
    return dot > 0 && parents.has(name.slice(dot + 1))
  }
}
