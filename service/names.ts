/**
 * Job names: what the API accepts as a name (up to 253 characters, the longest hostname, which is the default
 * name), and the name a job's records have in the certificate storage, whose names stop at 200 characters.
 */
import { storageKeys } from 'webacme'

/** The longest job name: a DNS name's longest text form (RFC 1035 §2.3.4, without the trailing dot). */
export const MAX_NAME_LENGTH = 253
const STORAGE_MAX = 200
const NAME = /^[A-Za-z0-9_~@+=,-][A-Za-z0-9._~@+=,-]*$/

/** Why `name` is not a job name, or `undefined` when it is one. */
export function nameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return 'name must be a string'
  if (name.length === 0 || name.length > MAX_NAME_LENGTH || !NAME.test(name)) {
    return `name ${JSON.stringify(name.slice(0, 300))} must be 1-${MAX_NAME_LENGTH} characters of A-Z a-z 0-9 . _ ~ @ + = , - and not start with a dot`
  }
  return undefined
}

/**
 * The name of job `name`'s records in the certificate storage: the name itself up to 200 characters, else its first
 * 150 characters, `~` and 32 hex digits of its SHA-256 (so that two long names that share a beginning stay apart).
 */
export async function storageName(name: string): Promise<string> {
  if (name.length <= STORAGE_MAX) return name
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(name)))
  const hex = [...digest.slice(0, 16)].map((b) => b.toString(16).padStart(2, '0')).join('')
  const stored = `${name.slice(0, 150)}~${hex}`
  storageKeys.certificate(stored) // a name nameProblem accepted is always a storage name here
  return stored
}
