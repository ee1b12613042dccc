/**
 * Create an account with external account binding (RFC 8555 §7.3.4), as ZeroSSL, Google Trust Services and
 * SSL.com require: the CA gives you a key id and a base64url MAC key in its dashboard.
 *
 *   EAB_KID=... EAB_HMAC_KEY=... ACCOUNT_KEY_FILE=zerossl-account.pem node --import tsx examples/eab.ts
 *
 * Environment: EAB_KID and EAB_HMAC_KEY (required), ACME_DIRECTORY (default: ZeroSSL), ACCOUNT_KEY_FILE (the
 * account key, created when missing; default ./account.pem), ACME_EMAIL.
 */
import { access, readFile, writeFile } from 'node:fs/promises'
import { AcmeClient, directories, exportPrivateKeyPem, generateKeyPair, importPrivateKeyPem } from 'webacme'

const { EAB_KID, EAB_HMAC_KEY } = process.env
if (!EAB_KID || !EAB_HMAC_KEY) throw new Error('set EAB_KID and EAB_HMAC_KEY (from the CA)')
const keyFile = process.env.ACCOUNT_KEY_FILE ?? 'account.pem'

// Keep the account key: it is the account.
const exists = await access(keyFile).then(
  () => true,
  () => false,
)
const accountKey = exists
  ? await importPrivateKeyPem(await readFile(keyFile, 'utf8'))
  : await generateKeyPair('ES256')
if (!exists) await writeFile(keyFile, await exportPrivateKeyPem(accountKey.privateKey), { mode: 0o600 })

const client = new AcmeClient({
  directoryUrl: process.env.ACME_DIRECTORY ?? directories.zerossl.production,
  accountKey,
})
const account = await client.createAccount({
  termsOfServiceAgreed: true, // running this means agreeing to the CA's terms of service
  externalAccountBinding: { kid: EAB_KID, hmacKey: EAB_HMAC_KEY },
  ...(process.env.ACME_EMAIL && { contact: [process.env.ACME_EMAIL] }),
})
console.log(`account ${account.url} (${account.status}), key in ${keyFile}`)
