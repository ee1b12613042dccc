/**
 * Challenge answers kept in the storage, so that whichever process the CA reaches answers for the one that
 * ordered (all processes share the storage): http-01 key authorizations under `challenges/http-01/<token>`,
 * tls-alpn-01 certificates under `challenges/tls-alpn-01/<server name>`.
 *
 * @module
 */
import { http01Path } from '../challenges/key-authorization.ts'
import type { ChallengeContext, ChallengeSolver } from '../challenges/solver.ts'
import { createTlsAlpn01Certificate, tlsAlpn01ServerName } from '../challenges/tls-alpn-01.ts'
import { InvalidArgumentError } from '../errors.ts'
import type { Identifier } from '../protocol/resources.ts'
import type { Storage } from '../storage/storage.ts'

const TOKEN = /^[A-Za-z0-9_-]{1,200}$/
const HTTP01_PREFIX = http01Path('')

/** A tls-alpn-01 answer as stored. */
export interface StoredTlsAlpn01 {
  cert: string
  key: string
  challengeUrl: string
}

/** http-01 through the storage: `present` writes the key authorization, `cleanup` removes it. */
export function storageHttp01Solver(storage: Storage): ChallengeSolver {
  return {
    type: 'http-01',
    // RFC 8555 §7.1.3: wildcard names cannot be validated over http-01.
    canSolve: (identifier: Identifier) => !identifier.value.startsWith('*.'),
    async present({ challenge, keyAuthorization }: ChallengeContext) {
      if (!challenge.token || !TOKEN.test(challenge.token) || !keyAuthorization) {
        throw new InvalidArgumentError(
          'http-01 needs a token of base64url characters and a key authorization',
        )
      }
      await storage.put(`challenges/http-01/${challenge.token}`, { keyAuthorization, url: challenge.url })
    },
    async cleanup({ challenge }: ChallengeContext) {
      if (challenge.token && TOKEN.test(challenge.token))
        await storage.delete(`challenges/http-01/${challenge.token}`)
    },
  }
}

/** The key authorization for a request path `/.well-known/acme-challenge/<token>`, from the storage. */
export async function lookupHttp01(storage: Storage, pathname: string): Promise<string | undefined> {
  if (!pathname.startsWith(HTTP01_PREFIX)) return undefined
  const token = pathname.slice(HTTP01_PREFIX.length)
  if (!TOKEN.test(token)) return undefined
  const record = (await storage.get(`challenges/http-01/${token}`)) as
    | { keyAuthorization?: unknown }
    | undefined
  return typeof record?.keyAuthorization === 'string' ? record.keyAuthorization : undefined
}

/** tls-alpn-01 through the storage: `present` writes the RFC 8737 certificate and its key under the SNI name. */
export function storageTlsAlpn01Solver(storage: Storage): ChallengeSolver {
  return {
    type: 'tls-alpn-01',
    canSolve: (identifier: Identifier) => identifier.type === 'dns' && !identifier.value.startsWith('*.'),
    async present({ identifier, challenge, keyAuthorization }: ChallengeContext) {
      if (!keyAuthorization) throw new InvalidArgumentError('tls-alpn-01 needs a key authorization')
      const made = await createTlsAlpn01Certificate({ identifier, keyAuthorization })
      const value: StoredTlsAlpn01 = {
        cert: made.certificatePem,
        key: made.privateKeyPem!,
        challengeUrl: challenge.url,
      }
      await storage.put(`challenges/tls-alpn-01/${tlsAlpn01ServerName(identifier)}`, value)
    },
    async cleanup({ identifier, challenge }: ChallengeContext) {
      const key = `challenges/tls-alpn-01/${tlsAlpn01ServerName(identifier)}`
      const current = (await storage.get(key)) as Partial<StoredTlsAlpn01> | undefined
      // Only our own: a newer challenge for the same name may have replaced it.
      if (current?.challengeUrl === challenge.url) await storage.delete(key)
    },
  }
}

/** The tls-alpn-01 certificate to present for a handshake with this SNI, from the storage. */
export async function lookupTlsAlpn01(
  storage: Storage,
  serverName: string,
): Promise<StoredTlsAlpn01 | undefined> {
  const name = serverName.toLowerCase().replace(/\.$/, '')
  if (!/^[a-z0-9._-]{1,253}$/.test(name) || name.startsWith('.')) return undefined
  const record = (await storage.get(`challenges/tls-alpn-01/${name}`)) as Partial<StoredTlsAlpn01> | undefined
  return typeof record?.cert === 'string' && typeof record.key === 'string'
    ? { cert: record.cert, key: record.key, challengeUrl: String(record.challengeUrl) }
    : undefined
}
