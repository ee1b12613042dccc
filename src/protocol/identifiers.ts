/**
 * Order identifiers: DNS names (RFC 8555 §7.1.4, §9.7.7; wildcards as the whole left-most label) and IP
 * addresses (RFC 8738: IPv4 dotted-decimal, IPv6 in RFC 5952 canonical text). Caller input is checked and
 * normalised here, before anything is sent.
 */
import { InvalidArgumentError } from '../errors.ts'
import type { Identifier } from './resources.ts'

/** Parses an IPv4 or IPv6 address to its 4 or 16 bytes, or `undefined` when `text` is not one. */
export function parseIpAddress(text: string): Uint8Array | undefined {
  if (text.includes(':')) return parseIpv6(text)
  return parseIpv4(text)
}

function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split('.')
  if (parts.length !== 4) return undefined
  const bytes = new Uint8Array(4)
  for (const [i, part] of parts.entries()) {
    // No leading zeros: "010" is octal in some parsers and decimal in others.
    if (!/^(0|[1-9]\d{0,2})$/.test(part) || Number(part) > 255) return undefined
    bytes[i] = Number(part)
  }
  return bytes
}

function parseIpv6(text: string): Uint8Array | undefined {
  if (text.startsWith('[') && text.endsWith(']')) return parseIpv6(text.slice(1, -1))
  const halves = text.split('::')
  if (halves.length > 2) return undefined
  const groups = (half: string): number[] | undefined => {
    if (half === '') return []
    const out: number[] = []
    const parts = half.split(':')
    for (const [i, part] of parts.entries()) {
      if (i === parts.length - 1 && part.includes('.')) {
        const v4 = parseIpv4(part)
        if (!v4) return undefined
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!)
      } else if (/^[0-9a-fA-F]{1,4}$/.test(part)) {
        out.push(Number.parseInt(part, 16))
      } else {
        return undefined
      }
    }
    return out
  }
  const head = groups(halves[0] ?? '')
  const tail = halves.length === 2 ? groups(halves[1] ?? '') : []
  if (!head || !tail) return undefined
  const missing = 8 - head.length - tail.length
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined
  const all = [...head, ...new Array<number>(missing).fill(0), ...tail]
  const bytes = new Uint8Array(16)
  all.forEach((group, i) => {
    bytes[2 * i] = group >> 8
    bytes[2 * i + 1] = group & 0xff
  })
  return bytes
}

/** Canonical text of a 4- or 16-byte address (RFC 5952 §4 for IPv6: lowercase, longest zero run as `::`). */
export function formatIpAddress(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.')
  if (bytes.length !== 16)
    throw new InvalidArgumentError(`an IP address has 4 or 16 bytes, not ${bytes.length}`)
  const groups = Array.from({ length: 8 }, (_, i) => (bytes[2 * i]! << 8) | bytes[2 * i + 1]!)
  let best = { start: -1, length: 0 }
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    // RFC 5952 §4.2.2: a single 0 group is not shortened.
    if (j - i > best.length && j - i > 1) best = { start: i, length: j - i }
    i = j
  }
  const hex = groups.map((g) => g.toString(16))
  if (best.start < 0) return hex.join(':')
  return `${hex.slice(0, best.start).join(':')}::${hex.slice(best.start + best.length).join(':')}`
}

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/

/** True for a syntactically valid DNS name, optionally with a `*.` wildcard prefix (lowercase expected). */
export function isDnsName(name: string, allowWildcard = true): boolean {
  const bare = allowWildcard && name.startsWith('*.') ? name.slice(2) : name
  if (bare.length === 0 || bare.length > 253) return false
  const labels = bare.split('.')
  // A name with at least two labels whose last is not all digits (that would be an IP address).
  return labels.length >= 2 && labels.every((label) => LABEL.test(label)) && !/^\d+$/.test(labels.at(-1)!)
}

/**
 * Turns caller input into order identifiers: a string is an IP identifier when it parses as an address,
 * else a DNS name (lower-cased, trailing dot dropped). Throws `InvalidArgumentError` for anything else.
 */
export function toIdentifier(input: string | Identifier): Identifier {
  if (typeof input !== 'string') {
    if (typeof input !== 'object' || input === null || typeof input.value !== 'string') {
      throw new InvalidArgumentError(
        `identifier must be a string or {type, value}, got ${JSON.stringify(input)}`,
      )
    }
    if (input.type === 'ip') {
      const bytes = parseIpAddress(input.value)
      if (!bytes) throw new InvalidArgumentError(`not an IP address: ${JSON.stringify(input.value)}`)
      return { type: 'ip', value: formatIpAddress(bytes) }
    }
    if (input.type === 'dns') return { type: 'dns', value: dnsName(input.value) }
    throw new InvalidArgumentError(
      `unsupported identifier type ${JSON.stringify(input.type)}: use "dns" or "ip"`,
    )
  }
  const bytes = parseIpAddress(input)
  return bytes ? { type: 'ip', value: formatIpAddress(bytes) } : { type: 'dns', value: dnsName(input) }
}

function dnsName(value: string): string {
  const name = value.trim().toLowerCase().replace(/\.$/, '')
  if (!isDnsName(name)) {
    throw new InvalidArgumentError(
      `not a valid DNS name: ${JSON.stringify(value)} (letters, digits and hyphens; a wildcard only as a leading "*.")`,
    )
  }
  return name
}
