/**
 * Reads the server name (SNI, RFC 6066 §3) and the ALPN list (RFC 7301 §3.1) from a TLS ClientHello, so the
 * listener can tell a tls-alpn-01 validation (RFC 8737: ALPN `acme-tls/1` only) from an ordinary client before
 * `node:tls` picks a certificate.
 *
 * @module
 */

/** What the listener needs from a ClientHello. */
export interface ClientHelloInfo {
  serverName: string | undefined
  alpn: string[]
}

/** Bytes needed before a ClientHello can be parsed: the TLS record header says how many. */
export function clientHelloLength(bytes: Uint8Array): number | 'not-tls' | undefined {
  if (bytes.length < 1) return undefined
  if (bytes[0] !== 0x16) return 'not-tls' // not a handshake record (plain HTTP on the TLS port, ...)
  if (bytes.length < 5) return undefined
  return 5 + ((bytes[3]! << 8) | bytes[4]!)
}

/**
 * Parses the ClientHello in the first TLS record of `bytes`, or returns `undefined` when it is not one (or is
 * malformed): the caller then hands the connection to the TLS server, which will refuse it itself.
 */
export function parseClientHello(bytes: Uint8Array): ClientHelloInfo | undefined {
  const total = clientHelloLength(bytes)
  if (typeof total !== 'number' || bytes.length < total) return undefined
  let p = 5
  const end = total
  const u8 = () => (p < end ? bytes[p++]! : Number.NaN)
  const u16 = () => (u8() << 8) | u8()
  if (u8() !== 1) return undefined // handshake type client_hello
  p += 3 // handshake length
  p += 2 + 32 // client_version, random
  const skip = (n: number) => {
    p += n
  }
  skip(u8()) // session_id (\`p += u8()\` would add to p as read before u8 moved it)
  skip(u16()) // cipher_suites
  skip(u8()) // compression_methods
  if (p >= end) return { serverName: undefined, alpn: [] }
  const extensionsEnd = Math.min(end, p + 2 + ((bytes[p]! << 8) | bytes[p + 1]!))
  p += 2
  let serverName: string | undefined
  const alpn: string[] = []
  while (p + 4 <= extensionsEnd) {
    const type = u16()
    const length = u16()
    const next = p + length
    if (next > extensionsEnd) return undefined
    if (type === 0) {
      // server_name: list length, then (name_type, length, name)*; host_name is type 0.
      p += 2
      while (p + 3 <= next) {
        const nameType = u8()
        const nameLength = u16()
        if (nameType === 0 && p + nameLength <= next) serverName = ascii(bytes.subarray(p, p + nameLength))
        p += nameLength
      }
    } else if (type === 16) {
      p += 2
      while (p < next) {
        const protocolLength = u8()
        if (p + protocolLength > next) return undefined
        alpn.push(ascii(bytes.subarray(p, p + protocolLength)))
        p += protocolLength
      }
    }
    p = next
  }
  return { serverName, alpn }
}

function ascii(bytes: Uint8Array): string {
  let text = ''
  for (const b of bytes) text += String.fromCharCode(b)
  return text
}
