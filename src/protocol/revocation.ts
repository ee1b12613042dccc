/**
 * Certificate revocation (RFC 8555 §7.6) with RFC 5280 §5.3.1 reason codes.
 */
import { InvalidArgumentError } from '../errors.ts'

/** RFC 5280 §5.3.1 CRLReason names and their codes (7 is unused). */
export const REVOCATION_REASONS = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  removeFromCRL: 8,
  privilegeWithdrawn: 9,
  aACompromise: 10,
} as const

/** A revocation reason: an RFC 5280 name or its numeric code. */
export type RevocationReason =
  | keyof typeof REVOCATION_REASONS
  | (typeof REVOCATION_REASONS)[keyof typeof REVOCATION_REASONS]

/** The numeric code of a reason; `InvalidArgumentError` for anything RFC 5280 does not define. */
export function revocationReasonCode(reason: RevocationReason): number {
  if (typeof reason === 'number') {
    if ((Object.values(REVOCATION_REASONS) as number[]).includes(reason)) return reason
  } else if (Object.hasOwn(REVOCATION_REASONS, reason)) {
    return REVOCATION_REASONS[reason]
  }
  throw new InvalidArgumentError(
    `unknown revocation reason ${JSON.stringify(reason)}: use one of ${Object.keys(REVOCATION_REASONS).join(', ')} or its code`,
  )
}
