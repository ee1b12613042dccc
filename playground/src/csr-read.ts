/**
 * Reads the names and the public key of a PKCS#10 request (RFC 2986), for "Order with my own CSR". webacme's
 * `parseCsr` does this completely, but it brings the `@peculiar` ASN.1 modules (about 31 KB gzip, most of the
 * page's budget); the page needs only the subjectAltName entries, the common name and the SubjectPublicKeyInfo,
 * which a short DER walk finds. The CA checks the request itself (its signature, its key) at finalization.
 */
import { decodePem, formatIpAddress } from 'webacme'

interface Tlv {
  tag: number
  /** The whole element (tag, length, content). */
  all: Uint8Array
  content: Uint8Array
}

/** The DER elements one after another in `bytes`. */
function children(bytes: Uint8Array): Tlv[] {
  const out: Tlv[] = []
  let i = 0
  while (i < bytes.length) {
    const start = i
    const tag = bytes[i++]!
    let length = bytes[i++]!
    if (length & 0x80) {
      const n = length & 0x7f
      if (n === 0 || n > 3) throw new TypeError('not DER: unsupported length')
      length = 0
      for (let k = 0; k < n; k++) length = length * 256 + bytes[i++]!
    }
    if (i + length > bytes.length) throw new TypeError('not DER: element longer than its container')
    out.push({ tag, all: bytes.subarray(start, i + length), content: bytes.subarray(i, i + length) })
    i += length
  }
  return out
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')
const OID_SAN = '0603551d11' // 2.5.29.17
const OID_CN = '0603550403' // 2.5.4.3

/** What the page needs from a CSR: its identifiers (SAN dNSName and iPAddress, then the CN) and its key. */
export interface CsrNames {
  names: string[]
  subjectPublicKeyInfo: Uint8Array
}

/** Reads a PEM `CERTIFICATE REQUEST`. Throws a `TypeError` saying what is wrong. */
export function readCsr(pem: string): CsrNames {
  const { der } = decodePem(pem, 'CERTIFICATE REQUEST')
  try {
    const [request] = children(der)
    const [info] = children(request!.content)
    // CertificationRequestInfo ::= SEQUENCE { version, subject, subjectPKInfo, [0] attributes }
    const [, subject, spki, attributes] = children(info!.content)
    if (spki?.tag !== 0x30) throw new TypeError('no public key')
    const names: string[] = []
    const walk = (tlvs: Tlv[]) => {
      for (const [i, tlv] of tlvs.entries()) {
        if (hex(tlv.all) === OID_SAN) {
          // Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
          const value = tlvs.slice(i + 1).find((t) => t.tag === 0x04)!
          for (const name of children(children(value.content)[0]!.content)) {
            if (name.tag === 0x82) names.push(new TextDecoder().decode(name.content).toLowerCase())
            if (name.tag === 0x87) names.push(formatIpAddress(name.content))
          }
        } else if (tlv.tag & 0x20) walk(children(tlv.content))
      }
    }
    walk(children(attributes?.content ?? new Uint8Array()))
    let commonName: string | undefined
    const findCn = (tlvs: Tlv[]) => {
      for (const [i, tlv] of tlvs.entries()) {
        if (hex(tlv.all) === OID_CN) commonName ??= new TextDecoder().decode(tlvs[i + 1]!.content)
        else if (tlv.tag & 0x20) findCn(children(tlv.content))
      }
    }
    findCn(children(subject!.content))
    // RFC 8555 §7.4: the order lists the CSR's names; a CN not among the SANs is one of them too.
    if (commonName && !names.includes(commonName.toLowerCase())) names.push(commonName.toLowerCase())
    if (names.length === 0) throw new TypeError('it names no DNS name or IP address')
    return { names: [...new Set(names)], subjectPublicKeyInfo: spki.all }
  } catch (err) {
    throw new TypeError(`not a certificate request the page can read: ${(err as Error).message}`)
  }
}
