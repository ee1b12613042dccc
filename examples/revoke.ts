/**
 * Revoke a certificate, signed by the account that ordered it (RFC 8555 §7.6).
 *
 *   CERT_FILE=certs/fullchain.pem ACCOUNT_KEY_FILE=account.pem REASON=superseded node --import tsx examples/revoke.ts
 *
 * Environment: CERT_FILE and ACCOUNT_KEY_FILE (PEM, required), ACME_DIRECTORY (default: Let's Encrypt staging),
 * REASON (an RFC 5280 reason: unspecified, keyCompromise, superseded, cessationOfOperation, ...).
 * Without the account key, the certificate's own key can sign instead: `{ certificateKey }`.
 */
import { readFile } from 'node:fs/promises'
import {
  AcmeClient,
  directories,
  importPrivateKeyPem,
  parseCertificate,
  type RevocationReason,
} from 'webacme'

const { CERT_FILE, ACCOUNT_KEY_FILE } = process.env
if (!CERT_FILE || !ACCOUNT_KEY_FILE) throw new Error('set CERT_FILE and ACCOUNT_KEY_FILE')
const certificate = await readFile(CERT_FILE, 'utf8')

const client = new AcmeClient({
  directoryUrl: process.env.ACME_DIRECTORY ?? directories.letsencrypt.staging,
  accountKey: await importPrivateKeyPem(await readFile(ACCOUNT_KEY_FILE, 'utf8')),
})
await client.findAccount() // the account URL of this key (ERR_ACME_ACCOUNT_DOES_NOT_EXIST when it has none)
const reason = (process.env.REASON ?? 'unspecified') as RevocationReason
await client.revokeCertificate(certificate, { reason })
console.log(`revoked serial ${parseCertificate(certificate).serialNumber} (${reason})`)
