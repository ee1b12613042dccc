/**
 * Exit codes of the `webacme` command, and the mapping from an error to its code. A script can tell what went
 * wrong without reading the message: `case $? in 5) echo "validation failed";; 6) echo "rate limited";; esac`.
 */
import { isAcmeError } from 'webacme'

/** The documented exit codes (cli/README.md). */
export const EXIT = {
  /** Success. */
  ok: 0,
  /** An unexpected error (a bug, or something webacme cannot classify). */
  error: 1,
  /** Bad flags, missing values, or a caller mistake caught before any request (bad domain name, no solver). */
  usage: 2,
  /** The CA refused or answered something unusable (a problem document, a response that breaks RFC 8555). */
  ca: 3,
  /** The CA (or a DNS provider) could not be reached: connection refused, name not found, TLS trust, timeout. */
  network: 4,
  /** The CA could not validate a challenge (an authorization or order became invalid). */
  validation: 5,
  /** The CA (or DNS provider) rate-limited the request; retry later (`retryAfter` in `--json`). */
  rateLimited: 6,
  /** The DNS provider refused a change (credentials, zone not found, conflict). */
  dns: 7,
  /** A local problem: a file that cannot be read or written, a port that cannot be listened on, storage. */
  local: 8,
  /** Interrupted (SIGINT / SIGTERM). */
  interrupted: 130,
} as const

export type ExitCode = (typeof EXIT)[keyof typeof EXIT]

/** A mistake in the command line: printed with the command's usage, exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError'
}

/** A local failure with a message meant for the user (file, port, storage): exit 8. */
export class LocalError extends Error {
  override readonly name = 'LocalError'
}

/** The exit code for an error thrown by a command. */
export function exitCodeFor(err: unknown): ExitCode {
  if (err instanceof UsageError) return EXIT.usage
  if (err instanceof LocalError) return EXIT.local
  if (isAbort(err)) return EXIT.interrupted
  if (isAcmeError(err)) {
    switch (err.code) {
      case 'ERR_INVALID_ARGUMENT':
      case 'ERR_TERMS_NOT_AGREED':
      case 'ERR_NO_SOLVER':
      case 'ERR_CERTIFICATE_KEY_REQUIRED':
        return EXIT.usage
      case 'ERR_NETWORK':
      case 'ERR_TIMEOUT':
        return EXIT.network
      case 'ERR_AUTHORIZATION_INVALID':
      case 'ERR_CHALLENGE_INVALID':
      case 'ERR_ORDER_INVALID':
        return EXIT.validation
      case 'ERR_ACME_RATE_LIMITED':
      case 'ERR_DNS_RATE_LIMITED':
        return EXIT.rateLimited
      case 'ERR_DNS_AUTH':
      case 'ERR_DNS_CONFLICT':
      case 'ERR_DNS_NOT_FOUND':
      case 'ERR_DNS_PROVIDER':
      case 'ERR_DNS_QUERY':
        return EXIT.dns
      case 'ERR_STORAGE':
      case 'ERR_STORAGE_CORRUPT':
      case 'ERR_STORAGE_LOCKED':
      case 'ERR_STORAGE_CONFLICT':
        return EXIT.local
      default:
        // Every other code is the CA's doing: a problem document, a response that breaks RFC 8555, a URL it
        // must not send us to, a capability it lacks, a key already in use.
        return EXIT.ca
    }
  }
  if (isNodeFsError(err)) return EXIT.local
  return EXIT.error
}

function isAbort(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError')
}

/** An error from node:fs or node:net (ENOENT, EACCES, EADDRINUSE, ...). */
export function isNodeFsError(err: unknown): err is Error & { code: string } {
  const code = err instanceof Error ? (err as { code?: unknown }).code : undefined
  return typeof code === 'string' && /^E[A-Z]+$/.test(code)
}
