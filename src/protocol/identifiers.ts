/**
 * Order identifiers: DNS names (RFC 8555 §7.1.4, §9.7.7; a wildcard only as the whole left-most label) and
 * IP addresses (RFC 8738: IPv4 dotted-decimal, IPv6 in RFC 5952 canonical text). Caller input is checked and
 * normalised here, before anything is sent. No ASN.1 here: orders and CSRs both use it.
 */
import { InvalidArgumentError } from '../errors.ts'
import type { Identifier } from './resources.ts'

/** A checked, canonical identifier. */
export interface OrderIdentifier {
  type: 'dns' | 'ip'
  value: string
}

/**
 * Caller input to identifiers: a string is an IP identifier when it parses as an address, else a DNS name.
 *
 * @throws {InvalidArgumentError} When it is neither.
 */
export function toIdentifier(input: string | Identifier): OrderIdentifier {
  if (typeof input === 'string') {
    return tryParseIpAddress(input)
      ? normalizeIdentifier({ type: 'ip', value: input })
      : normalizeIdentifier({ type: 'dns', value: input })
  }
  if (typeof input !== 'object' || input === null) {
    throw new InvalidArgumentError(
      `identifier must be a string or {type, value}, got ${JSON.stringify(input)}`,
    )
  }
  return normalizeIdentifier(input)
}

/**
 * {@link toIdentifier} over a list, dropping duplicates (after normalisation, so `A.test` and `a.test` are one).
 */
export function toIdentifiers(inputs: ReadonlyArray<string | Identifier>): OrderIdentifier[] {
  const seen = new Set<string>()
  return inputs.map(toIdentifier).filter((id) => {
    const key = `${id.type}:${id.value}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

/**
 * Validates an identifier and returns it in canonical form: DNS names lowercased, IPv4 dotted decimal
 * (RFC 1123 §2.1), IPv6 as RFC 5952 §4 text, which is how RFC 8738 §3 wants it in orders.
 *
 * DNS names are lowercased, lose one trailing dot, and Unicode names become A-labels (IDNA); then they must be
 * made of 1-63 character letter-digit-hyphen labels, at most 253 characters, with `*` only as the whole first
 * label, and must not end in an all-numeric label.
 *
 * @throws {InvalidArgumentError} When the identifier is not valid.
 * @see https://www.rfc-editor.org/rfc/rfc8555#section-7.1.4
 * @see https://www.rfc-editor.org/rfc/rfc8738#section-3
 */
export function normalizeIdentifier(identifier: Identifier): OrderIdentifier {
  const value: unknown = identifier?.value
  if (typeof value !== 'string') throw new InvalidArgumentError('identifier value must be a string')
  if (identifier.type === 'ip') return { type: 'ip', value: formatIpAddress(parseIpAddress(value)) }
  if (identifier.type === 'dns') return { type: 'dns', value: normalizeDnsName(value) }
  throw new InvalidArgumentError(
    `unsupported identifier type ${JSON.stringify(identifier.type)} (use "dns" or "ip")`,
  )
}

/**
 * Parses IPv4 dotted decimal (no leading zeros) or IPv6 text (RFC 4291 §2.2, with `::` and an embedded IPv4
 * tail; no zone index) into its 4 or 16 network-order octets, the form of an X.509 iPAddress (RFC 5280 §4.2.1.6).
 *
 * @throws {InvalidArgumentError} When the text is not an IP address.
 * @see https://www.rfc-editor.org/rfc/rfc4291#section-2.2
 */
export function parseIpAddress(text: string): Uint8Array {
  const bytes = tryParseIpAddress(text)
  if (!bytes) throw new InvalidArgumentError(`invalid IP address ${JSON.stringify(text)}`)
  return bytes
}

/**
 * Canonical text of a 4- or 16-octet IP address: dotted decimal, or RFC 5952 §4 IPv6 (lowercase, no leading
 * zeros, the longest run of two or more zero groups, the first on a tie, as `::`).
 *
 * @throws {InvalidArgumentError} When `bytes` is neither 4 nor 16 octets long.
 * @see https://www.rfc-editor.org/rfc/rfc5952#section-4
 */
export function formatIpAddress(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.')
  if (bytes.length !== 16) {
    throw new InvalidArgumentError(`an IP address has 4 or 16 octets, not ${bytes.length}`)
  }
  const groups: number[] = []
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!)
  let bestStart = -1
  let bestLength = 1 // RFC 5952 §4.2.2: a single zero group is not shortened.
  for (let start = 0; start < 8; start++) {
    let length = 0
    while (start + length < 8 && groups[start + length] === 0) length++
    if (length > bestLength) {
      bestStart = start
      bestLength = length
    }
    start += length
  }
  const hex = groups.map((group) => group.toString(16))
  if (bestStart === -1) return hex.join(':')
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`
}

function normalizeDnsName(value: string): string {
  const invalid = (why: string) =>
    new InvalidArgumentError(`invalid DNS name ${JSON.stringify(value)}: ${why}`)
  if (/\s/.test(value)) throw invalid('it contains whitespace')
  // One trailing dot names the root explicitly ("example.com."): the same name.
  let name = value.endsWith('.') ? value.slice(0, -1) : value
  if (name === '') throw invalid('empty label')
  if (!/^[\x21-\x7e]+$/.test(name)) name = toALabels(name, invalid)
  name = name.toLowerCase()
  // RFC 1035 §2.3.4: 253 characters of text, 63 per label.
  if (name.length > 253) throw invalid('longer than 253 characters')
  const labels = name.split('.')
  labels.forEach((label, index) => {
    // RFC 8555 §7.1.3: a wildcard is "*." as the whole leftmost label, nowhere else.
    if (label === '*' && index === 0 && labels.length > 1) return
    if (label.includes('*')) throw invalid('a wildcard must be the whole first label ("*.example.com")')
    if (label.length === 0) throw invalid('empty label')
    if (!/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(label)) {
      throw invalid(`label "${label}" must be 1-63 letters, digits or inner hyphens`)
    }
  })
  // RFC 3696 §2: a top-level domain is never all-numeric, which also keeps IP literals out of "dns".
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) {
    throw invalid('ends in an all-numeric label (use type "ip"?)')
  }
  return name
}

/**
 * Internationalized names to A-labels (RFC 5891 via UTS #46 mapping: case folded, `Bücher.example` becomes
 * `xn--bcher-kva.example`), with the WHATWG URL host parser that every runtime has.
 */
function toALabels(name: string, invalid: (why: string) => Error): string {
  let host: string
  try {
    host = new URL(`http://${name}/`).hostname
  } catch {
    throw invalid('not a valid internationalized domain name')
  }
  if (!/^[\x21-\x7e]+$/.test(host) || host.includes('%')) {
    throw invalid('not a valid internationalized domain name')
  }
  return host
}

/** Like {@link parseIpAddress}, but `undefined` instead of an error. */
export function tryParseIpAddress(text: string): Uint8Array | undefined {
  return text.includes(':') ? parseIpv6(text) : parseIpv4(text)
}

function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split('.')
  // RFC 1123 §2.1 dotted decimal; leading zeros are refused since some parsers read them as octal.
  if (
    parts.length !== 4 ||
    !parts.every((part) => /^(?:0|[1-9][0-9]{0,2})$/.test(part) && Number(part) <= 255)
  ) {
    return undefined
  }
  return Uint8Array.from(parts, Number)
}

function parseIpv6(text: string): Uint8Array | undefined {
  const halves = text.split('::')
  if (halves.length > 2) return undefined
  const head = ipv6Groups(halves[0]!, halves.length === 1)
  const tail = halves.length === 2 ? ipv6Groups(halves[1]!, true) : []
  if (!head || !tail) return undefined
  const missing = 8 - head.length - tail.length
  // "::" stands for one or more zero groups (RFC 4291 §2.2); without it there must be exactly eight.
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined
  const groups = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail]
  const bytes = new Uint8Array(16)
  groups.forEach((group, i) => {
    bytes[2 * i] = group >> 8
    bytes[2 * i + 1] = group & 0xff
  })
  return bytes
}

/** 16-bit groups of one side of `::`; the last group may be an embedded IPv4 address (RFC 4291 §2.2 form 3). */
function ipv6Groups(part: string, ipv4Tail: boolean): number[] | undefined {
  if (part === '') return []
  const groups: number[] = []
  const texts = part.split(':')
  for (const [index, group] of texts.entries()) {
    if (ipv4Tail && index === texts.length - 1 && group.includes('.')) {
      const v4 = parseIpv4(group)
      if (!v4) return undefined
      groups.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!)
    } else if (/^[0-9a-fA-F]{1,4}$/.test(group)) {
      groups.push(Number.parseInt(group, 16))
    } else {
      return undefined
    }
  }
  return groups
}
