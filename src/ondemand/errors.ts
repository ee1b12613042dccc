/**
 * Errors of the on-demand certificate manager (`webacme/tls`).
 *
 * @module
 */
import { AcmeError } from '../acme-error.ts'
import type { CertificateManagerErrorCode } from '../error-codes.ts'

/** Codes of {@link CertificateManagerError} (declared with every other code in `src/error-codes.ts`). */
export type { CertificateManagerErrorCode }

/** Why a name was refused. */
export type RefusalReason = 'not-allowed' | 'invalid-name' | 'rate-limited' | 'client-rate-limited' | 'closed'

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
