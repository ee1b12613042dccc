/**
 * TXT record data in presentation format (RFC 1035 §5.1, §3.3.14): one or more `<character-string>`s, each
 * quoted or bare, at most 255 bytes, with `\"`, `\\` and `\DDD` escapes. PowerDNS, Route53, Google Cloud DNS,
 * Cloudflare and the JSON DoH APIs all speak this form; adapters quote values with {@link quoteTxt} and compare
 * what they read back with {@link parseTxt}.
 */
import { InvalidArgumentError } from '../errors.ts'

const MAX_STRING = 255

/**
 * How a provider writes a byte as an escape: RFC 1035 §5.1 `\DDD` is decimal; Route 53 documents three-digit
 * octal instead (`\303` for 0xC3).
 */
export type TxtEscape = 'decimal' | 'octal'

const RADIX = { decimal: 10, octal: 8 } as const

/**
 * `value` as quoted character-strings: `"abc"`, split into 255-byte strings separated by a space when longer.
 * `"` and `\` are escaped, bytes outside printable ASCII become `\DDD` (decimal, or octal for Route 53).
 */
export function quoteTxt(value: string, style: TxtEscape = 'decimal'): string {
  const bytes = new TextEncoder().encode(value)
  const strings: string[] = []
  for (let start = 0; start < bytes.length || strings.length === 0; start += MAX_STRING) {
    let out = ''
    for (const byte of bytes.subarray(start, start + MAX_STRING)) {
      if (byte === 0x22 || byte === 0x5c) out += `\\${String.fromCharCode(byte)}`
      else if (byte >= 0x20 && byte <= 0x7e) out += String.fromCharCode(byte)
      else out += `\\${byte.toString(RADIX[style]).padStart(3, '0')}`
    }
    strings.push(`"${out}"`)
  }
  return strings.join(' ')
}

/**
 * The text a TXT record in presentation format carries: its character-strings decoded and concatenated
 * (`"ab" "cd"` → `abcd`), as a resolver hands them to dns-01 validation. Bare (unquoted) strings are accepted.
 */
export function parseTxt(content: string, style: TxtEscape = 'decimal'): string {
  const bytes: number[] = []
  let i = 0
  const n = content.length
  while (i < n) {
    while (i < n && (content[i] === ' ' || content[i] === '\t')) i++
    if (i >= n) break
    const quoted = content[i] === '"'
    if (quoted) i++
    for (;;) {
      if (i >= n) {
        if (quoted) throw new InvalidArgumentError(`unterminated TXT string: ${content}`)
        break
      }
      const ch = content[i]!
      if (quoted ? ch === '"' : ch === ' ' || ch === '\t') {
        if (quoted) i++
        break
      }
      if (ch === '\\') {
        const digits = content.slice(i + 1, i + 4)
        if (style === 'octal' ? /^[0-7]{3}$/.test(digits) : /^\d{3}$/.test(digits)) {
          const byte = Number.parseInt(digits, RADIX[style])
          if (byte > 255) throw new InvalidArgumentError(`bad \\DDD escape in TXT: ${content}`)
          bytes.push(byte)
          i += 4
          continue
        }
        if (i + 1 >= n) throw new InvalidArgumentError(`dangling backslash in TXT: ${content}`)
        i++
      }
      const char = String.fromCodePoint(content.codePointAt(i)!)
      for (const byte of new TextEncoder().encode(char)) bytes.push(byte)
      i += char.length
    }
  }
  return new TextDecoder().decode(new Uint8Array(bytes))
}
