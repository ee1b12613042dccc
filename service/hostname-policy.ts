/**
 * Which hostnames the service takes on (issue 16, item 11). By default it refuses what no public CA issues and what
 * an operator never means: `localhost`, single-label names, names under a top-level domain that is not on the Public
 * Suffix List's ICANN section (`.test`, `.local`, `.internal`, `.home.arpa`, a typo), a name that is itself a public
 * suffix (`co.uk`: CAs refuse them), and loopback, private, link-local, shared, documentation and other reserved IP
 * addresses, v4 and v6 (RFC 6890's special-purpose registries). `ALLOWED_SUFFIXES` narrows it to the operator's
 * customers' domains. `HOSTNAME_POLICY = "local"` is for a private or test CA (a local Pebble): it also accepts
 * reserved names and non-public addresses, but never `localhost` or a single label.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6761 (special-use names) and https://www.rfc-editor.org/rfc/rfc6890
 * @see https://publicsuffix.org/
 */
import { parse } from 'tldts'

/** The policy, as the vars configure it. */
export interface HostnamePolicy {
  /** `public` (default): what a public CA issues. `local`: also reserved names and non-public IP addresses. */
  mode: 'public' | 'local'
  /** When not empty: only these domains and the names under them (lower case, no leading dot). */
  allowedSuffixes: string[]
}

/** Reads `HOSTNAME_POLICY` and `ALLOWED_SUFFIXES` (comma-separated); throws naming the var that is wrong. */
export function readHostnamePolicy(vars: {
  HOSTNAME_POLICY?: string | undefined
  ALLOWED_SUFFIXES?: string | undefined
}): HostnamePolicy {
  const mode = (vars.HOSTNAME_POLICY ?? '').trim() || 'public'
  if (mode !== 'public' && mode !== 'local') {
    throw new Error(
      `HOSTNAME_POLICY must be "public" or "local", not ${JSON.stringify(vars.HOSTNAME_POLICY)}`,
    )
  }
  const allowedSuffixes = (vars.ALLOWED_SUFFIXES ?? '')
    .split(',')
    .map((s) =>
      s
        .trim()
        .toLowerCase()
        .replace(/^\*?\./, '')
        .replace(/\.$/, ''),
    )
    .filter(Boolean)
  return { mode, allowedSuffixes }
}

/**
 * Why the policy refuses `identifier` (a normalized identifier value: a lower-case DNS name in A-labels, possibly
 * `*.`-prefixed, or an IP address in canonical text), or `undefined` when it takes it.
 */
export function hostnameRefusal(identifier: string, policy: HostnamePolicy): string | undefined {
  const ip = ipBytes(identifier)
  if (ip) {
    const reserved = reservedAddress(ip)
    if (reserved && (policy.mode === 'public' || reserved === 'unspecified')) {
      return `${identifier} is a ${reserved} address: no public CA issues a certificate for it`
    }
    if (policy.allowedSuffixes.length > 0 && !policy.allowedSuffixes.includes(identifier)) {
      return `${identifier} is not in ALLOWED_SUFFIXES`
    }
    return undefined
  }
  const name = identifier.replace(/^\*\./, '')
  if (name === 'localhost' || name.endsWith('.localhost')) return `${identifier} is localhost`
  if (!name.includes('.')) return `${identifier} is a single-label name: no public CA issues one`
  if (
    policy.allowedSuffixes.length > 0 &&
    !policy.allowedSuffixes.some((s) => name === s || name.endsWith(`.${s}`))
  ) {
    return `${identifier} is not under ALLOWED_SUFFIXES (${policy.allowedSuffixes.join(', ')})`
  }
  if (policy.mode === 'local') return undefined
  const special = SPECIAL_USE.find((suffix) => name === suffix || name.endsWith(`.${suffix}`))
  if (special) return `${identifier} is under .${special}, a special-use name: no public CA issues it`
  const parsed = parse(name, { allowPrivateDomains: false })
  if (!parsed.isIcann) {
    return `${identifier} is not under a public top-level domain (.${name.split('.').at(-1)}): no public CA issues it`
  }
  if (parsed.domain === null)
    return `${identifier} is a public suffix: no public CA issues a certificate for it`
  return undefined
}

/**
 * Special-use domains no public CA issues for, whether or not the Public Suffix List lists them: RFC 6761 (test,
 * example, invalid, localhost), RFC 6762 (local), RFC 7686 (onion), RFC 8375 (home.arpa, and .arpa as a whole:
 * infrastructure), RFC 9476 (alt), and ICANN's reserved .internal.
 */
const SPECIAL_USE = ['test', 'example', 'invalid', 'localhost', 'local', 'onion', 'alt', 'arpa', 'internal']

/** The address's 4 or 16 bytes, or `undefined` when `text` is not an IP address in canonical form. */
function ipBytes(text: string): number[] | undefined {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(text)) {
    const bytes = text.split('.').map(Number)
    return bytes.every((b) => b <= 255) ? bytes : undefined
  }
  if (!text.includes(':')) return undefined
  let head = text
  let v4: number[] = []
  const dotted = /(\d{1,3}(\.\d{1,3}){3})$/.exec(text)
  if (dotted) {
    v4 = ipBytes(dotted[1]!) ?? []
    head = `${text.slice(0, dotted.index)}0:0`
  }
  const [left, right, ...more] = head.split('::')
  if (more.length > 0) return undefined
  const groups = (part: string | undefined) => (part ? part.split(':') : [])
  const l = groups(left)
  const r = groups(right)
  const fill = right === undefined ? 0 : 8 - l.length - r.length
  const all = [...l, ...Array.from({ length: fill }, () => '0'), ...r]
  if (all.length !== 8 || !all.every((g) => /^[0-9a-f]{1,4}$/i.test(g))) return undefined
  const bytes = all.flatMap((g) => {
    const n = Number.parseInt(g, 16)
    return [n >> 8, n & 0xff]
  })
  if (v4.length === 4) bytes.splice(12, 4, ...v4)
  return bytes
}

/** `prefix/bits` contains `bytes`. */
function within(bytes: number[], prefix: number[], bits: number): boolean {
  for (let i = 0; i < bits; i++) {
    const byte = i >> 3
    const mask = 0x80 >> (i & 7)
    if (((bytes[byte] ?? 0) & mask) !== ((prefix[byte] ?? 0) & mask)) return false
  }
  return true
}

/** What kind of special-purpose address `bytes` is (RFC 6890 and its updates), or `undefined` for a public one. */
function reservedAddress(bytes: number[]): string | undefined {
  if (bytes.length === 4) return reservedV4(bytes)
  if (bytes.every((b) => b === 0)) return 'unspecified'
  if (within(bytes, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff], 96)) return reservedV4(bytes.slice(12)) // ::ffff:a.b.c.d
  const v6: Array<[number[], number, string]> = [
    [[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 128, 'loopback'],
    [[0, 0x64, 0xff, 0x9b, 0, 1], 48, 'private'], // 64:ff9b:1::/48, local NAT64
    [[1, 0, 0, 0, 0, 0, 0, 0], 64, 'discard-only'],
    [[0x20, 0x01, 0x0d, 0xb8], 32, 'documentation'],
    [[0x3f, 0xff], 20, 'documentation'],
    [[0x20, 0x01, 0, 0], 23, 'reserved'], // IETF protocol assignments (Teredo and others)
    [[0x20, 0x02], 16, 'reserved'], // 6to4
    [[0xfc], 7, 'private'], // unique local
    [[0xfe, 0x80], 10, 'link-local'],
    [[0xfe, 0xc0], 10, 'private'], // site-local (deprecated)
    [[0xff], 8, 'multicast'],
    [[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 96, 'reserved'], // IPv4-compatible (deprecated)
  ]
  return v6.find(([prefix, bits]) => within(bytes, prefix, bits))?.[2]
}

function reservedV4(bytes: number[]): string | undefined {
  const v4: Array<[number[], number, string]> = [
    [[0], 8, 'unspecified'],
    [[10], 8, 'private'],
    [[100, 64], 10, 'shared (carrier-grade NAT)'],
    [[127], 8, 'loopback'],
    [[169, 254], 16, 'link-local'],
    [[172, 16], 12, 'private'],
    [[192, 0, 0], 24, 'reserved'],
    [[192, 0, 2], 24, 'documentation'],
    [[192, 88, 99], 24, 'reserved'],
    [[192, 168], 16, 'private'],
    [[198, 18], 15, 'benchmarking'],
    [[198, 51, 100], 24, 'documentation'],
    [[203, 0, 113], 24, 'documentation'],
    [[224], 4, 'multicast'],
    [[240], 4, 'reserved'],
  ]
  return v4.find(([prefix, bits]) => within(bytes, prefix, bits))?.[2]
}
