/**
 * Node-side checks of what the page produced, independent of webacme: OpenSSL for CSRs, Node's X509Certificate for
 * chains and keys, and an RFC 7638 thumbprint computed here.
 */
import { execFile } from 'node:child_process'
import { createHash, createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { systemBinary } from '../harness/system.ts'

const exec = promisify(execFile)

/** Runs openssl; resolves to stdout + stderr, rejects with both on a non-zero exit. */
export async function openssl(args: string[], cwd: string): Promise<string> {
  try {
    const { stdout, stderr } = await exec(systemBinary('openssl'), args, { cwd })
    return `${stdout}${stderr}`
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string }
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr || e.stdout || e.message}`)
  }
}

/** What `openssl req -verify` and `-text` say about a CSR. */
export async function verifyCsr(
  csrPem: string,
  dir: string,
  name: string,
): Promise<{ verified: boolean; text: string; publicKeyPem: string }> {
  const file = join(dir, `${name}.csr`)
  await writeFile(file, csrPem)
  const verify = await openssl(['req', '-in', file, '-noout', '-verify'], dir)
  const text = await openssl(['req', '-in', file, '-noout', '-text'], dir)
  const publicKeyPem = await openssl(['req', '-in', file, '-noout', '-pubkey'], dir)
  return { verified: /verify OK/i.test(verify), text, publicKeyPem: publicKeyPem.trim() }
}

/** The SubjectPublicKeyInfo PEM of a private or public key PEM, as OpenSSL writes it. */
export function publicPem(keyPem: string): string {
  const key = keyPem.includes('PRIVATE KEY')
    ? createPublicKey(createPrivateKey(keyPem))
    : createPublicKey(keyPem)
  return (key.export({ type: 'spki', format: 'pem' }) as string).trim()
}

/** PEM blocks of a chain, as Node parses them. */
export function parseChain(chainPem: string): X509Certificate[] {
  const blocks = chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []
  return blocks.map((b) => new X509Certificate(b))
}

/** Checks a downloaded chain and key: each certificate is issued and signed by the next, the key fits the leaf. */
export function checkChainAndKey(
  chainPem: string,
  keyPem: string,
  rootPem: string,
): { leaf: X509Certificate; names: string[] } {
  const chain = parseChain(chainPem)
  if (chain.length < 2)
    throw new Error(`the chain has ${chain.length} certificate(s), expected leaf + intermediate`)
  const root = new X509Certificate(rootPem)
  const all = [...chain, root]
  for (let i = 0; i + 1 < all.length; i++) {
    const [child, parent] = [all[i]!, all[i + 1]!]
    if (!child.checkIssued(parent) || !child.verify(parent.publicKey)) {
      throw new Error(`certificate ${i + 1} (${child.subject}) is not issued and signed by ${parent.subject}`)
    }
  }
  const leaf = chain[0]!
  if (!leaf.checkPrivateKey(createPrivateKey(keyPem)))
    throw new Error('the downloaded key does not fit the certificate')
  return { leaf, names: sanNames(leaf) }
}

/** `DNS:a, IP Address:1.2.3.4` to `['a', '1.2.3.4']`. */
export function sanNames(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '')
    .split(', ')
    .filter(Boolean)
    .map((entry) => entry.replace(/^(DNS|IP Address):/, ''))
}

/** RFC 7638 thumbprint of an EC public JWK, computed here: SHA-256 of the required members in order. */
export function jwkThumbprint(jwk: {
  crv?: string | undefined
  kty?: string | undefined
  x?: string | undefined
  y?: string | undefined
}): string {
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })
  return createHash('sha256').update(canonical).digest('base64url')
}

/** RFC 7638 thumbprint of an EC key given as PEM. */
export function thumbprint(keyPem: string): string {
  return jwkThumbprint(
    createPublicKey(keyPem.includes('PRIVATE') ? createPrivateKey(keyPem) : keyPem).export({ format: 'jwk' }),
  )
}

/** Serial as lowercase hex octets, without the 00 octet DER adds to keep it positive (as the page shows it). */
export function serialOf(cert: X509Certificate): string {
  return cert.serialNumber.toLowerCase().replace(/^(00)+(?=..)/, '')
}
