/**
 * The options and results of `AcmeClient`'s methods: what a caller passes (the client, each call, new
 * accounts and orders) and the certificate chain it gets back.
 *
 * @module
 */
import type { AbortSignalLike, CryptoKeyPair, UrlLike } from '../lib/web-types.ts'
import type { ExternalAccountBinding } from '../protocol/external-account-binding.ts'
import type { FirstReadPacer, PollOptions } from '../protocol/poll.ts'
import type { Identifier } from '../protocol/resources.ts'
import type { TransportOptions } from '../protocol/transport.ts'

/** Options of `AcmeClient`. */
export interface AcmeClientOptions extends TransportOptions {
  /** The CA's directory URL, e.g. `https://acme-v02.api.letsencrypt.org/directory`. */
  directoryUrl: string | UrlLike
  /** The account key pair (see `generateKeyPair`, `importPrivateKeyPem`, `importJwkPair`). */
  accountKey: CryptoKeyPair
  /** The account URL when already known (skips `createAccount`/`findAccount`). */
  accountUrl?: string
  /** Default polling for the `waitFor*` methods. */
  poll?: Omit<PollOptions, 'signal'>
  /**
   * `issueCertificate` calls on this client that run at once (default 50); more wait their turn before placing
   * their order. Bounds the validations the CA runs against your servers at once, the pending authorizations
   * counted against your account, and the memory of a process handed a thousand names.
   */
  maxConcurrentIssuances?: number
  /**
   * What paces the first read of each wait (default: a new {@link FirstReadPacer}). Pass one built from an earlier
   * client's `pacer.toJSON()` to start from what it learned about the CA instead of from scratch.
   */
  pacer?: FirstReadPacer
}

/** Per-call options. */
export interface CallOptions {
  /** Aborts the call, including retries and waits. */
  signal?: AbortSignalLike
}

/** Options of `AcmeClient.createAccount` (RFC 8555 §7.3). */
export interface NewAccountOptions extends CallOptions {
  /**
   * The caller's explicit agreement to the CA's terms of service (`directory.meta.termsOfService`; show that
   * link to the user). Required: webacme never agrees on anyone's behalf. A CA without terms ignores it.
   */
  termsOfServiceAgreed: true
  /** Contact URLs; a bare e-mail address gets `mailto:` prepended. */
  contact?: string[]
  /** External account binding credentials, for CAs that require them (`meta.externalAccountRequired`). */
  externalAccountBinding?: ExternalAccountBinding
}

/** What to order (RFC 8555 §7.4). */
export interface NewOrderOptions extends CallOptions {
  /** DNS names (wildcards as `*.example.com`) and IP addresses (RFC 8738), as strings or identifiers. */
  identifiers: Array<string | Identifier>
  /** Requested validity start (not all CAs allow it; Let's Encrypt does not). */
  notBefore?: Date | string
  /** Requested validity end. */
  notAfter?: Date | string
  /** Certificate profile (draft-ietf-acme-profiles); must be listed in `meta.profiles`. */
  profile?: string
  /** RFC 9773 CertID of the certificate this order replaces; sent only when the directory has `renewalInfo`. */
  replaces?: string
}

/** A certificate chain as downloaded (RFC 8555 §7.4.2). */
export interface CertificateChain {
  /** The URL it was downloaded from. */
  url: string
  /** PEM: end-entity certificate first, then the issuers. */
  pem: string
  /** URLs of alternate chains for the same certificate (`Link: rel="alternate"`). */
  alternates: string[]
}

/** Options of the `waitFor*` methods. */
export type WaitOptions = PollOptions
