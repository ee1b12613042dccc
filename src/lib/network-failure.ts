/**
 * The root cause of a failed `fetch`. Every runtime words it differently: Node (undici) hides it in
 * `err.cause.code` (`ECONNREFUSED`, `UNABLE_TO_VERIFY_LEAF_SIGNATURE`), Deno in the message ("tcp connect error",
 * "invalid peer certificate: UnknownIssuer"), Bun in `err.code` (`ConnectionRefused`), workerd says "internal
 * error" for TLS and browsers say only "Failed to fetch". This walks the cause chain and reads both.
 */
import type { NetworkFailureReason } from '../errors.ts'

/** What a failed `fetch` tells about its cause. */
export interface NetworkFailure {
  reason: NetworkFailureReason
  /** The most specific text found in the chain (`connect ECONNREFUSED 127.0.0.1:1`). */
  detail: string
  /** What usually fixes it, when something does. */
  hint: string | undefined
}

const PATTERNS: Array<[NetworkFailureReason, RegExp]> = [
  // Checked in this order: a TLS failure message may also mention the connection.
  [
    'tls',
    /CERT|SELF_SIGNED|UNABLE_TO_(VERIFY|GET)|certificate|UnknownIssuer|ERR_TLS|ERR_SSL|SSL routines|handshake|tls/i,
  ],
  ['connection-refused', /ECONNREFUSED|ConnectionRefused|Connection refused|connection was refused/i],
  ['dns', /ENOTFOUND|EAI_AGAIN|EAI_NONAME|getaddrinfo|dns error|failed to lookup|Name or service not known/i],
  [
    'reset',
    /ECONNRESET|EPIPE|UND_ERR_SOCKET|other side closed|socket hang up|terminated|connection reset|ConnectionClosed|connection closed|Network connection lost|unexpected end|premature close|incomplete/i,
  ],
  ['timeout', /ETIMEDOUT|UND_ERR_CONNECT_TIMEOUT|UND_ERR_HEADERS_TIMEOUT|timed out/i],
]

const HINTS: Partial<Record<NetworkFailureReason, string>> = {
  tls: "the server's TLS certificate is not trusted by this runtime; for a private CA: Node and Bun NODE_EXTRA_CA_CERTS=/path/ca.pem, Deno --cert /path/ca.pem (or DENO_CERT), a browser: import the CA",
  'connection-refused': 'nothing listens at that address: is the CA running, and is the port right?',
  dns: 'the host name does not resolve: check the spelling, and the DNS of this machine',
}

/** Classifies the error a `fetch` rejected with. */
export function describeNetworkFailure(error: unknown): NetworkFailure {
  const texts: string[] = []
  let current: unknown = error
  for (let depth = 0; depth < 5 && current !== undefined && current !== null; depth++) {
    const { code, message } = current as { code?: unknown; message?: unknown }
    if (typeof code === 'string') texts.push(code)
    if (typeof message === 'string') texts.push(message)
    else if (typeof current === 'string') texts.push(current)
    current = (current as { cause?: unknown }).cause
  }
  // The deepest message is the most specific ("fetch failed" wraps "connect ECONNREFUSED ...").
  const detail = [...texts].reverse().find((t) => t.includes(' ')) ?? texts[0] ?? String(error)
  const all = texts.join(' | ')
  for (const [reason, pattern] of PATTERNS) {
    if (pattern.test(all)) return { reason, detail, hint: HINTS[reason] }
  }
  return { reason: 'unknown', detail, hint: undefined }
}
