/**
 * The error of a dynamic update: a {@link DnsProviderError} that also names the DNS RCODE and the TSIG error the
 * server answered, so callers can tell a wrong key (`NOTAUTH`/`BADSIG`) from a zone the server does not serve
 * (`NOTAUTH` alone, `NOTZONE`) or a refused policy (`REFUSED`).
 */
import type { DnsErrorCode } from '../../errors.ts'
import { DnsProviderError } from '../errors.ts'

/** A dynamic update or one of its queries failed. `providerCode` is the TSIG error when there is one, else the RCODE. */
export class DnsUpdateError extends DnsProviderError {
  /** The RCODE of the server's answer by name (`NOTAUTH`, `REFUSED`, `SERVFAIL`, ...), when there was an answer. */
  readonly rcode: string | undefined
  /** The TSIG error by name (`BADSIG`, `BADKEY`, `BADTIME`, ...), from the server's TSIG record or our check of it. */
  readonly tsigError: string | undefined
  /** The server's address, as the transport was given it, when known. */
  readonly server: string | undefined

  constructor(
    code: DnsErrorCode,
    message: string,
    init: {
      rcode?: string | undefined
      tsigError?: string | undefined
      server?: string | undefined
      cause?: unknown
    } = {},
  ) {
    super(code, message, {
      provider: 'rfc2136',
      providerCode: init.tsigError ?? init.rcode,
      cause: init.cause,
    })
    this.name = 'DnsUpdateError'
    this.rcode = init.rcode
    this.tsigError = init.tsigError
    this.server = init.server
  }
}
