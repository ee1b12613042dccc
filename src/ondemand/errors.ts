/**
 * Errors of the on-demand certificate manager (`webacme/tls`).
 *
 * @module
 */
import { AcmeError } from '../errors.ts'
import type { RefusalReason } from './types.ts'

/** Codes of {@link CertificateManagerError} (declared with the other codes in `src/errors.ts`). */
export type CertificateManagerErrorCode =
  /** The name may not get a certificate: `allow` said no, the name is invalid, a rate limit, or the manager closed. */
  | 'ERR_NAME_REFUSED'
  /** Every issuer failed, or the name failed recently and is not tried again yet (`failureTtl`). */
  | 'ERR_ISSUANCE_FAILED'
  /** Every issuer's circuit breaker is open: the CA failed too often in a row; nothing was sent. */
  | 'ERR_CIRCUIT_OPEN'
  /** Another process held the name's storage lease longer than `waitTimeout` without storing a certificate. */
  | 'ERR_LOCK_WAIT_TIMEOUT'

/**
 * The certificate manager could not give a certificate for `name`. `reason` says why a name was refused
 * (`ERR_NAME_REFUSED`); `cause` holds the CA's or the storage's error for `ERR_ISSUANCE_FAILED`.
 */
export class CertificateManagerError extends AcmeError {
  declare readonly code: CertificateManagerErrorCode
  /** The name asked for (normalised where it could be). */
  readonly serverName: string
  /** Why it was refused (`ERR_NAME_REFUSED` only). */
  readonly reason: RefusalReason | undefined
  constructor(
    code: CertificateManagerErrorCode,
    serverName: string,
    message: string,
    options?: { cause?: unknown; reason?: RefusalReason },
  ) {
    super(code, message, options)
    this.name = 'CertificateManagerError'
    this.serverName = serverName
    this.reason = options?.reason
  }
}
