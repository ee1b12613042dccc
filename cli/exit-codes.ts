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
  /**
   * The CA (or a DNS provider) could not be reached: connection refused, name not found, TLS trust, timeout; or the
   * CA stopped answering and its circuit breaker is open (`ERR_CA_UNAVAILABLE`, `retryAfter` in `--json`).
   */
  network: 4,
  /** The CA could not validate a challenge (an authorization or order became invalid). */
  validation: 5,
  /** The CA (or DNS provider) rate-limited the request; retry later (`retryAfter` in `--json`). */
  rateLimited: 6,
  /** The DNS provider refused a change (credentials, zone not found, conflict). */
  dns: 7,
  /** A local problem: a file that cannot be read or written, a port that cannot be listened on, storage. */
  local: 8,
  /**
   * The certificate was issued or renewed and its files written, but the `--deploy-hook` command failed (the
   * hook's own status is in the message and in `--json` as `error.hookExitCode`). The files stay.
   */
  deployHook: 9,
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
  /** How to fix it, when there is a known way (printed as `hint:`, and in `--json`). */
  readonly hint: string | undefined
  constructor(message: string, options?: ErrorOptions & { hint?: string }) {
    super(message, options)
    this.hint = options?.hint
  }
}

/**
 * The error for a listener that could not start. Binding a port below 1024 without the privilege (EACCES) says
 * how to get it.
 */
export function listenError(
  what: string,
  flag: string,
  host: string | undefined,
  port: number,
  err: Error,
): LocalError {
  const code = (err as { code?: unknown }).code
  const hint =
    code === 'EACCES' && port < 1024
      ? `ports below 1024 need privileges. Either let this runtime bind them once (sudo setcap cap_net_bind_service=+ep ${process.execPath}), or use a port above 1023 (${flag} 8080) and forward ${port} to it (e.g. an nftables/iptables redirect), or run as root (sudo), or through authbind (touch /etc/authbind/byport/${port}; chown $USER /etc/authbind/byport/${port}; authbind --deep webacme ...)`
      : code === 'EADDRINUSE'
        ? `something already listens on port ${port}: stop it, or answer through it (--webroot DIR for a web server)`
        : undefined
  return new LocalError(`cannot serve ${what} on ${host ?? '*'}:${port}: ${err.message}`, {
    cause: err,
    ...(hint !== undefined && { hint }),
  })
}

/** The `--deploy-hook` command failed (exit 9); the certificate files it was told about are in place. */
export class DeployHookError extends Error {
  override readonly name = 'DeployHookError'
  readonly code = 'ERR_DEPLOY_HOOK'
  /** The hook's exit status, or the signal that ended it. */
  readonly hookExitCode: number | string
  constructor(message: string, hookExitCode: number | string, options?: ErrorOptions) {
    super(message, options)
    this.hookExitCode = hookExitCode
  }
}

/** The exit code for an error thrown by a command. */
export function exitCodeFor(err: unknown): ExitCode {
  if (err instanceof UsageError) return EXIT.usage
  if (err instanceof LocalError) return EXIT.local
  if (err instanceof DeployHookError) return EXIT.deployHook
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
      case 'ERR_CA_UNAVAILABLE':
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

/** An abort: Ctrl-C (SIGINT/SIGTERM), reported as exit 130 and `ERR_INTERRUPTED`. */
export function isAbort(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError')
}

/** An error from node:fs or node:net (ENOENT, EACCES, EADDRINUSE, ...). */
export function isNodeFsError(err: unknown): err is Error & { code: string } {
  const code = err instanceof Error ? (err as { code?: unknown }).code : undefined
  return typeof code === 'string' && /^E[A-Z]+$/.test(code)
}
