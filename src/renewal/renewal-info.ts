/**
 * Fetching a certificate's renewal information (RFC 9773 §4): an unauthenticated GET of `{renewalInfo}/{certID}`
 * answering the CA's suggested window, an optional explanation URL, and in `Retry-After` when to ask again.
 */
import * as v from 'valibot'
import type { AcmeClient } from '../client.ts'
import { AcmeResponseError, UnsupportedError } from '../errors.ts'
import type { AbortSignalLike } from '../lib/web-types.ts'
import type { ParsedCertificate } from '../pkix/certificate.ts'
import { parseRetryAfter } from '../protocol/headers.ts'
import { parseResource } from '../protocol/schemas.ts'
import type { Transport } from '../protocol/transport.ts'
import { certId as certIdOf, parseCertId } from './cert-id.ts'
import { type Instant, isValidWindow, nextCheckTime, type TimeWindow } from './schedule.ts'

/** A RenewalInfo object (RFC 9773 §4.2) with the re-check time already clamped. */
export interface RenewalInfo {
  /** The CertID asked about. */
  certId: string
  /** The URL fetched. */
  url: string
  /** When the CA suggests renewing; `end` is always after `start` (an invalid window is an error). */
  suggestedWindow: TimeWindow
  /** A page explaining the window (RFC 9773 §4.2: clients SHOULD show it to their operator). */
  explanationURL?: string
  /**
   * When to fetch again: `Retry-After` clamped to 1 minute .. 1 day from now, or 6 hours from now when the
   * header is missing or unreadable (RFC 9773 §4.3).
   */
  retryAfter: Date
  /** Whether `retryAfter` came from the server's header (`false`: the 6-hour default). */
  retryAfterFromServer: boolean
}

/** Options of {@link fetchRenewalInfo}. */
export interface FetchRenewalInfoOptions {
  signal?: AbortSignalLike
  /** The current time, for `Retry-After` in seconds (default: the clock). */
  now?: Instant
}

// RFC 3339 date-time (§5.6); Date.parse reads it, including fractions beyond milliseconds and offsets.
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/
const timestamp = v.pipe(
  v.string(),
  v.check(
    (s) => RFC3339.test(s) && !Number.isNaN(Date.parse(s.toUpperCase())),
    'must be an RFC 3339 timestamp',
  ),
  v.transform((s) => new Date(Date.parse(s.toUpperCase()))),
)

const renewalInfoSchema: v.GenericSchema<unknown, { suggestedWindow: TimeWindow; explanationURL?: string }> =
  v.looseObject({
    suggestedWindow: v.looseObject({ start: timestamp, end: timestamp }),
    explanationURL: v.exactOptional(v.pipe(v.string(), v.url())),
  })

/**
 * Fetches the renewal information of a certificate (PEM, DER, parsed, or its CertID) with an unauthenticated GET
 * (RFC 9773 §4.1), through the client's transport and its retry policy (5xx and network failures are retried
 * with backoff, RFC 9773 §4.3.3).
 *
 * @throws {UnsupportedError} When the directory has no `renewalInfo`, or the certificate has no CertID.
 * @throws {AcmeResponseError} When the body is not a RenewalInfo object, or its window does not end after it starts
 * (RFC 9773 §4.2: treat it as no answer). Callers treat this, like any HTTP error, as a long-term error.
 * @example
 * ```ts
 * import { type AcmeClient, fetchRenewalInfo } from 'webacme'
 *
 * declare const client: AcmeClient
 * declare const certificatePem: string
 * const info = await fetchRenewalInfo(client, certificatePem)
 * console.log(info.suggestedWindow.start, info.explanationURL, `ask again at ${info.retryAfter.toISOString()}`)
 * ```
 * @see {@link https://www.rfc-editor.org/rfc/rfc9773#section-4 RFC 9773 §4}
 */
export async function fetchRenewalInfo(
  source: AcmeClient | Transport,
  certificate: string | Uint8Array | ParsedCertificate,
  options: FetchRenewalInfoOptions = {},
): Promise<RenewalInfo> {
  const transport = 'transport' in source ? source.transport : source
  let id: string
  if (typeof certificate === 'string' && !certificate.includes('-----BEGIN')) {
    parseCertId(certificate) // throws on a malformed CertID before anything is sent
    id = certificate
  } else {
    id = certIdOf(certificate)
  }
  const directory = await transport.directory(options.signal)
  if (!directory.renewalInfo)
    throw new UnsupportedError('this CA does not offer renewal information (no renewalInfo)')
  const url = `${directory.renewalInfo.replace(/\/+$/, '')}/${id}`
  const res = await transport.get(url, { signal: options.signal, accept: 'application/json' })
  const body = parseResource(renewalInfoSchema, res.body, {
    what: 'renewal information',
    url,
    status: res.status,
  })
  if (!isValidWindow(body.suggestedWindow)) {
    throw new AcmeResponseError(
      `invalid renewal information from ${url}: the suggested window does not end after it starts`,
      {
        url,
        status: res.status,
        field: 'suggestedWindow.end',
      },
    )
  }
  const now = options.now ?? Date.now()
  // Re-read the header against our own clock: the transport's parse used the wall clock.
  const retryAfter = parseRetryAfter(
    res.headers.get('retry-after'),
    typeof now === 'number' ? now : now.getTime(),
  )
  return {
    certId: id,
    url,
    suggestedWindow: body.suggestedWindow,
    ...(body.explanationURL !== undefined && { explanationURL: body.explanationURL }),
    retryAfter: nextCheckTime(retryAfter, now),
    retryAfterFromServer: retryAfter !== undefined,
  }
}
