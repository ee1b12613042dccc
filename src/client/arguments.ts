/**
 * What `AcmeClient` checks and normalises in its callers' arguments before anything is sent: key pairs,
 * URLs, contacts, timestamps and profiles. Each failure is an `InvalidArgumentError` (or `UnsupportedError` for a
 * profile the CA does not offer) that names the argument.
 *
 * @module
 */
import { InvalidArgumentError, UnsupportedError } from '../errors.ts'
import { checkSigningKey } from '../jose/algorithms.ts'
import type { CryptoKeyPair } from '../lib/web-types.ts'
import type { Directory } from '../protocol/resources.ts'

export function checkKeyPair(pair: CryptoKeyPair, name: string): CryptoKeyPair {
  if (
    typeof pair !== 'object' ||
    pair === null ||
    pair.privateKey?.type !== 'private' ||
    pair.publicKey?.type !== 'public'
  ) {
    throw new InvalidArgumentError(`${name} must be a CryptoKeyPair ({ privateKey, publicKey })`)
  }
  checkSigningKey(pair.privateKey, name)
  return pair
}

export function checkUrl(url: string, what: string): string {
  try {
    return new URL(url).href
  } catch {
    throw new InvalidArgumentError(`${what} is not a URL: ${JSON.stringify(url)}`)
  }
}

export function normalizeContacts(contact: string[]): string[] {
  return contact.map((entry) => {
    if (typeof entry !== 'string' || entry.trim() === '')
      throw new InvalidArgumentError('contact entries must be non-empty strings')
    const value = entry.trim()
    if (/^[a-z][a-z0-9+.-]*:/i.test(value)) return value
    if (/^[^@\s]+@[^@\s]+$/.test(value)) return `mailto:${value}`
    throw new InvalidArgumentError(`contact ${JSON.stringify(entry)} is neither a URL nor an e-mail address`)
  })
}

export function toTimestamp(value: Date | string, name: string): string {
  const date = value instanceof Date ? value : new Date(value)
  if (Number.isNaN(date.getTime()))
    throw new InvalidArgumentError(`${name} is not a valid date: ${String(value)}`)
  return date.toISOString().replace(/\.000Z$/, 'Z')
}

export function checkProfile(directory: Directory, profile: string): string {
  const profiles = directory.meta?.profiles
  if (!profiles)
    throw new UnsupportedError(
      `this CA offers no certificate profiles (asked for ${JSON.stringify(profile)})`,
    )
  if (!Object.hasOwn(profiles, profile)) {
    throw new InvalidArgumentError(
      `unknown profile ${JSON.stringify(profile)}; this CA offers: ${Object.keys(profiles).join(', ') || '(none)'}`,
    )
  }
  return profile
}
