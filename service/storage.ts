/** Where certificates live (sealed records in R2, as `renewDue` reads them) and the key ring that seals them. */
import { type CertificateRecord, lifetimeRenewalTime, type Storage } from 'webacme'
import { type JobCertificate, type KeyRing, keyRing, R2Storage, sealedStorage } from 'webacme/cloudflare'
import type { Env } from './env.ts'

let cached: { secrets: string; ring: Promise<KeyRing> } | undefined

/** The key ring of STORAGE_KEY (sealing) and STORAGE_KEY_PREVIOUS (opening only, while rotating). */
export function keyRingOf(env: Env): Promise<KeyRing> {
  if (!env.STORAGE_KEY)
    throw new Error('STORAGE_KEY is not set: `wrangler secret put STORAGE_KEY` (32+ characters)')
  const secrets = [env.STORAGE_KEY, env.STORAGE_KEY_PREVIOUS ?? '']
  const id = secrets.join('\0')
  // Deriving the AES key is per isolate, not per request.
  if (cached?.secrets !== id) cached = { secrets: id, ring: keyRing(secrets) }
  return cached.ring
}

/** The certificate storage: every record sealed. */
export async function certificateStorage(env: Env): Promise<Storage> {
  return sealedStorage(new R2Storage(env.CERTIFICATES), await keyRingOf(env))
}

/** The account id under which certificate records name their account (renewDue gets the client directly). */
export const ACCOUNT_ID = 'main'

/**
 * What a job records of a stored certificate: its serial and validity, when to renew it by the lifetime rule, and
 * the CA that issued it (after a change of CA the cron pass re-issues it from the new one, service/renewal.ts).
 */
export function jobCertificate(
  record: Pick<CertificateRecord, 'serialNumber' | 'notBefore' | 'notAfter'>,
  directoryUrl: string,
): JobCertificate {
  return {
    serialNumber: record.serialNumber,
    notBefore: record.notBefore,
    notAfter: record.notAfter,
    renewAt: lifetimeRenewalTime(Date.parse(record.notBefore), Date.parse(record.notAfter)).toISOString(),
    directoryUrl,
  }
}
