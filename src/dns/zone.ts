/**
 * DNS names as the adapters need them (canonical form, RFC 1035 §2.3.4 limits) and zone discovery: the zone
 * that holds a name is found by asking the provider about the name, then its parent, and so on up the labels.
 */
import { InvalidArgumentError } from '../errors.ts'
import { raceSignal, throwIfAborted } from '../lib/abort.ts'
import type { AbortSignalLike } from '../lib/web-types.ts'
import { DnsProviderError } from './errors.ts'

const MAX_NAME = 253
const MAX_LABEL = 63

/**
 * The canonical form adapters work with: lower case, no trailing dot (`_acme-challenge.example.com`).
 * Throws an `InvalidArgumentError` for an empty name, an empty label or one longer than 63 bytes, or a name
 * longer than 253 characters (RFC 1035 §2.3.4). Internationalised names must already be A-labels (punycode).
 */
export function canonicalName(name: string): string {
  if (typeof name !== 'string') throw new InvalidArgumentError('a DNS name must be a string')
  const bare = name.trim().replace(/\.$/, '').toLowerCase()
  if (bare === '' || bare.length > MAX_NAME) throw new InvalidArgumentError(`not a DNS name: "${name}"`)
  for (const label of bare.split('.')) {
    if (label === '' || new TextEncoder().encode(label).length > MAX_LABEL) {
      throw new InvalidArgumentError(`not a DNS name: "${name}" (empty or over-long label)`)
    }
  }
  return bare
}

/** The absolute form with the trailing dot (`_acme-challenge.example.com.`), as most provider APIs want it. */
export function toFqdn(name: string): string {
  return `${canonicalName(name)}.`
}

/** `name` relative to `zone`: `_acme-challenge` for `_acme-challenge.example.com` in `example.com`, `''` at the apex. */
export function relativeName(name: string, zone: string): string {
  const n = canonicalName(name)
  const z = canonicalName(zone)
  if (n === z) return ''
  if (!n.endsWith(`.${z}`)) throw new InvalidArgumentError(`${n} is not inside the zone ${z}`)
  return n.slice(0, -(z.length + 1))
}

/** `name` and each of its ancestors, longest first, down to the top-level label (the root is never a candidate). */
export function zoneCandidates(name: string): string[] {
  const labels = canonicalName(name).split('.')
  return labels.map((_, i) => labels.slice(i).join('.'))
}

/**
 * Walks up the labels of `name` (the name itself first, then its parent, ...) and returns the first thing
 * `lookup` finds, or `undefined` when no ancestor is a zone. `lookup` gets canonical names without a trailing
 * dot and answers `undefined` for "not a zone here".
 *
 * @example
 * ```ts
 * import { findZone } from 'webacme'
 *
 * const zones = new Map([['example.com', { id: 'Z1' }]])
 * const zone = await findZone('_acme-challenge.www.example.com', async (candidate) => zones.get(candidate))
 * console.log(zone?.id) // "Z1"
 * ```
 */
export async function findZone<Z>(
  name: string,
  lookup: (candidate: string) => Promise<Z | undefined>,
): Promise<Z | undefined> {
  for (const candidate of zoneCandidates(name)) {
    const zone = await lookup(candidate)
    if (zone !== undefined) return zone
  }
  return undefined
}

/**
 * For providers: a zone finder that remembers what it learnt for the adapter's lifetime (an apex, its wildcard
 * and a CNAME target usually share zones), shares a lookup in flight between callers, and throws
 * `ERR_DNS_NOT_FOUND` naming the provider when no ancestor is a zone. Failed lookups are not remembered. A
 * caller's abort stops its wait at once; the shared lookup itself runs without it, for the other callers.
 */
export function zoneFinder<Z>(
  provider: string,
  lookup: (candidate: string) => Promise<Z | undefined>,
): (name: string, signal?: AbortSignalLike) => Promise<Z> {
  const known = new Map<string, Promise<Z | undefined>>()
  const cached = (candidate: string): Promise<Z | undefined> => {
    let entry = known.get(candidate)
    if (!entry) {
      entry = lookup(candidate)
      known.set(candidate, entry)
      entry.catch(() => known.delete(candidate))
    }
    return entry
  }
  return async (name, signal) => {
    const zone = await findZone(name, (candidate) => {
      throwIfAborted(signal) // never start a lookup for a caller that is gone
      return raceSignal(cached(candidate), signal)
    })
    if (zone === undefined) {
      throw new DnsProviderError('ERR_DNS_NOT_FOUND', `${provider}: no zone holds ${canonicalName(name)}`, {
        provider,
      })
    }
    return zone
  }
}
