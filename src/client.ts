/**
 * `AcmeClient`: one method per RFC 8555 operation, on top of the signed {@link Transport}. Resources come
 * back as plain, validated data with their URL; nothing here keeps state beyond the account key, the account
 * URL, the cached directory and the nonce pool.
 *
 * Every mutating call recovers from a lost response: when a replay finds the work already done (a challenge no
 * longer pending, an order already finalized, an account already deactivated), the client re-reads the
 * resource and returns it instead of failing.
 */

import { challengeToken, keyAuthorizationWith } from './challenges/key-authorization.ts'
import { checkKeyPair, checkProfile, checkUrl, normalizeContacts, toTimestamp } from './client/arguments.ts'
import type {
  AcmeClientOptions,
  CallOptions,
  CertificateChain,
  NewAccountOptions,
  NewOrderOptions,
  WaitOptions,
} from './client/options.ts'
import {
  AcmeProblemError,
  AcmeResponseError,
  AcmeStateError,
  InvalidArgumentError,
  isProblem,
  UnsupportedError,
} from './errors.ts'
import { exportPublicJwk, jwkThumbprint, type PublicJwk } from './jose/jwk.ts'
import { sleep } from './lib/abort.ts'
import { encodeBase64Url } from './lib/base64url.ts'
import type { AbortSignalLike, CryptoKey, CryptoKeyPair } from './lib/web-types.ts'
import { decodePem } from './pkix/pem.ts'
import type { CircuitBreaker } from './protocol/circuit-breaker.ts'
import { externalAccountBinding } from './protocol/external-account-binding.ts'
import { linksWithRel } from './protocol/headers.ts'
import { toIdentifier, toIdentifiers } from './protocol/identifiers.ts'
import { keyChangeInnerJws } from './protocol/key-change.ts'
import { FirstReadPacer, type PollOptions, poll } from './protocol/poll.ts'
import type { Account, Authorization, Challenge, Directory, Identifier, Order } from './protocol/resources.ts'
import { type RevocationReason, revocationReasonCode } from './protocol/revocation.ts'
import {
  accountSchema,
  authorizationSchema,
  challengeObjectSchema,
  orderSchema,
  ordersListSchema,
  parseResource,
} from './protocol/schemas.ts'
import {
  type AcmeResponse,
  isAfterLostResponse,
  retryAfterOf,
  type Signer,
  Transport,
} from './protocol/transport.ts'

export type {
  AcmeClientOptions,
  CallOptions,
  CertificateChain,
  NewAccountOptions,
  NewOrderOptions,
  WaitOptions,
} from './client/options.ts'

const PEM_CHAIN = 'application/pem-certificate-chain'
/** Longest wait for an error's `Retry-After` before re-reading the resource it concerns (ms). */
const MAX_RECOVERY_WAIT = 120_000
const CERTIFICATE_PEM = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/

/**
 * An ACME client bound to one directory and one account key.
 *
 * @example
 * ```ts
 * import { AcmeClient, generateKeyPair } from 'webacme'
 *
 * const client = new AcmeClient({
 *   directoryUrl: 'https://acme-staging-v02.api.letsencrypt.org/directory',
 *   accountKey: await generateKeyPair('ES256'),
 * })
 * const account = await client.createAccount({ termsOfServiceAgreed: true, contact: ['mailto:ops@example.com'] })
 * const order = await client.createOrder({ identifiers: ['example.com', '*.example.com'] })
 * ```
 * @see {@link https://www.rfc-editor.org/rfc/rfc8555 RFC 8555}
 */
export class AcmeClient {
  /** The transport (directory cache, nonce pool, signed requests) this client uses. */
  readonly transport: Transport
  #accountKey: CryptoKeyPair
  #jwk: Promise<PublicJwk>
  /** The RFC 7638 thumbprint of `#jwk`, computed once per account key. */
  #thumbprint: { jwk: Promise<PublicJwk>; thumbprint: Promise<string> } | undefined
  #accountUrl: string | undefined
  #ordersUrl: string | undefined
  readonly #poll: Omit<PollOptions, 'signal'>
  /** Issuances at once on this client: see {@link AcmeClientOptions.maxConcurrentIssuances}. */
  readonly maxConcurrentIssuances: number
  /**
   * How long this CA takes to validate and to issue, learned from earlier waits; `pacer.toJSON()` keeps it for
   * the next client (see {@link AcmeClientOptions.pacer}).
   */
  readonly pacer: FirstReadPacer

  constructor(options: AcmeClientOptions) {
    if (typeof options !== 'object' || options === null)
      throw new InvalidArgumentError('options are required')
    this.transport = new Transport(options.directoryUrl, options)
    this.#accountKey = checkKeyPair(options.accountKey, 'accountKey')
    this.#jwk = exportPublicJwk(this.#accountKey.publicKey)
    this.#jwk.catch(() => {})
    this.#accountUrl = options.accountUrl
    this.#poll = options.poll ?? {}
    this.maxConcurrentIssuances = Math.max(1, options.maxConcurrentIssuances ?? 50)
    this.pacer = options.pacer ?? new FirstReadPacer()
  }

  /**
   * The CA's circuit breaker this client's requests pass (option `breaker`; `undefined` when turned off): after a
   * run of unanswered attempts they fail at once with `ERR_CA_UNAVAILABLE` until a probe gets an answer.
   */
  get breaker(): CircuitBreaker | undefined {
    return this.transport.breaker
  }

  /** The account URL (`kid`), once known. */
  get accountUrl(): string | undefined {
    return this.#accountUrl
  }

  /** The account key pair in use (it changes after {@link AcmeClient.changeAccountKey}). */
  get accountKey(): CryptoKeyPair {
    return this.#accountKey
  }

  /** The account's public JWK (what the CA knows the account by). */
  accountJwk(): Promise<PublicJwk> {
    return this.#jwk
  }

  /** The directory (RFC 8555 §7.1.1), fetched once. */
  directory(options: CallOptions = {}): Promise<Directory> {
    return this.transport.directory(options.signal)
  }

  // --- Accounts (RFC 8555 §7.3) ------------------------------------------------------------------------

  /**
   * Creates the account for this key, or returns the existing one (the CA answers 200 for a known key).
   *
   * @see {@link https://www.rfc-editor.org/rfc/rfc8555#section-7.3 RFC 8555 §7.3}
   */
  async createAccount(options: NewAccountOptions): Promise<Account> {
    if (options?.termsOfServiceAgreed !== true) {
      throw new InvalidArgumentError(
        "createAccount needs the user's explicit agreement to the CA's terms of service: pass { termsOfServiceAgreed: true } after showing them (directory.meta.termsOfService)",
        { code: 'ERR_TERMS_NOT_AGREED' },
      )
    }
    const { signal } = options
    const payload: Record<string, unknown> = { termsOfServiceAgreed: true }
    if (options.contact?.length) payload.contact = normalizeContacts(options.contact)
    const directory = await this.directory({ ...(signal && { signal }) })
    const jwk = await this.#jwk
    if (options.externalAccountBinding) {
      payload.externalAccountBinding = await externalAccountBinding(
        options.externalAccountBinding,
        jwk,
        directory.newAccount,
      )
    }
    return this.#accountRequest(directory.newAccount, payload, signal)
  }

  /**
   * Finds the account of this key without creating one (`onlyReturnExisting`, RFC 8555 §7.3.1). Throws an
   * `AcmeProblemError` with code `ERR_ACME_ACCOUNT_DOES_NOT_EXIST` when there is none.
   */
  async findAccount(options: CallOptions = {}): Promise<Account> {
    const directory = await this.directory(options)
    return this.#accountRequest(directory.newAccount, { onlyReturnExisting: true }, options.signal)
  }

  async #accountRequest(
    url: string,
    payload: unknown,
    signal: AbortSignalLike | undefined,
  ): Promise<Account> {
    const res = await this.transport.post(
      url,
      payload,
      { privateKey: this.#accountKey.privateKey, jwk: await this.#jwk },
      { signal },
    )
    // The account URL becomes the `kid` of every later request: it must be the CA's.
    const accountUrl = this.#location(res, url, 'account')
    this.#accountUrl = accountUrl
    return this.#account(res, accountUrl)
  }

  /** Fetches the account (POST-as-GET to the account URL). */
  async getAccount(options: CallOptions = {}): Promise<Account> {
    const url = this.#kid()
    return this.#account(await this.#post(url, '', options), url)
  }

  /** Replaces the account's contact URLs (RFC 8555 §7.3.2); `[]` removes them all. */
  async updateAccount(update: { contact: string[] }, options: CallOptions = {}): Promise<Account> {
    const url = this.#kid()
    if (!Array.isArray(update?.contact)) throw new InvalidArgumentError('update.contact must be an array')
    return this.#account(await this.#post(url, { contact: normalizeContacts(update.contact) }, options), url)
  }

  /**
   * Rolls the account over to `newKey` (RFC 8555 §7.3.5). On success the client signs with the new key.
   * When the new key already belongs to another account the CA answers 409 and this throws an
   * `AcmeStateError` with code `ERR_KEY_IN_USE` whose `url` is that account.
   */
  async changeAccountKey(newKey: CryptoKeyPair, options: CallOptions = {}): Promise<Account> {
    checkKeyPair(newKey, 'newKey')
    const url = this.#kid()
    const { keyChange } = await this.directory(options)
    // Exported once: it signs the inner JWS, probes the CA after a failure, and becomes the client's JWK.
    const newSigner = { privateKey: newKey.privateKey, jwk: await exportPublicJwk(newKey.publicKey) }
    const inner = await keyChangeInnerJws(newSigner, url, await this.#jwk, keyChange)
    try {
      await this.#post(keyChange, inner, options)
    } catch (err) {
      // RFC 8555 §7.3.5 answers 409 + Location when the new key has an account; some servers (Pebble 2.4)
      // answer 500 instead, and a lost response makes a replay fail. Asking the CA whom the new key belongs to
      // settles all three.
      const holder = await this.#accountOfKey(newSigner, options)
      if (holder !== url) {
        if (holder === undefined) throw err
        throw new AcmeStateError('ERR_KEY_IN_USE', `the new key already belongs to account ${holder}`, {
          url: holder,
          problem: err instanceof AcmeProblemError ? err.problem : undefined,
        })
      }
    }
    this.#accountKey = newKey
    this.#jwk = Promise.resolve(newSigner.jwk)
    return this.getAccount(options)
  }

  /** The URL of the account `key` belongs to, or `undefined` when it has none. */
  async #accountOfKey(
    signer: { privateKey: CryptoKey; jwk: PublicJwk },
    options: CallOptions,
  ): Promise<string | undefined> {
    const { newAccount } = await this.directory(options)
    try {
      return (await this.transport.post(newAccount, { onlyReturnExisting: true }, signer, options)).location
    } catch (err) {
      if (isProblem(err, 'accountDoesNotExist')) return undefined
      throw err
    }
  }

  /** Deactivates the account (RFC 8555 §7.3.6). It cannot be used again. */
  async deactivateAccount(options: CallOptions = {}): Promise<Account> {
    const url = this.#kid()
    try {
      return this.#account(await this.#post(url, { status: 'deactivated' }, options), url)
    } catch (err) {
      // A replay of a deactivation that went through is refused as unauthorized: the work is done.
      if (isAfterLostResponse(err) && isProblem(err, 'unauthorized')) return { url, status: 'deactivated' }
      throw err
    }
  }

  // --- Orders (RFC 8555 §7.4) --------------------------------------------------------------------------

  /**
   * Places a new order (RFC 8555 §7.4). Identifiers are checked before sending; optional fields are sent only
   * when given.
   */
  async createOrder(request: NewOrderOptions, options: CallOptions = {}): Promise<Order> {
    const signal = options.signal ?? request.signal
    const call = signal ? { signal } : {}
    if (!Array.isArray(request?.identifiers) || request.identifiers.length === 0) {
      throw new InvalidArgumentError('createOrder needs at least one identifier')
    }
    const identifiers = toIdentifiers(request.identifiers)
    const payload: Record<string, unknown> = { identifiers }
    if (request.notBefore !== undefined) payload.notBefore = toTimestamp(request.notBefore, 'notBefore')
    if (request.notAfter !== undefined) payload.notAfter = toTimestamp(request.notAfter, 'notAfter')
    const directory = await this.directory(call)
    if (request.profile !== undefined) payload.profile = checkProfile(directory, request.profile)
    // RFC 9773 §5: `replaces` only when the server advertises renewalInfo.
    if (request.replaces !== undefined && directory.renewalInfo) payload.replaces = request.replaces
    const res = await this.#post(directory.newOrder, payload, call)
    return this.#order(res, this.#location(res, directory.newOrder, 'order'))
  }

  /** Fetches an order (POST-as-GET). Also how to resume an order a crashed run left behind. */
  async getOrder(url: string, options: CallOptions = {}): Promise<Order> {
    return this.#order(await this.#post(checkUrl(url, 'order URL'), '', options), url)
  }

  /**
   * The URLs of the account's orders (RFC 8555 §7.1.2.1), following `Link: rel="next"` pages. Not every CA
   * offers the list (Let's Encrypt does not): then this throws an `UnsupportedError`.
   */
  async *listOrders(options: CallOptions = {}): AsyncGenerator<string, void, undefined> {
    let url: string | undefined = this.#ordersUrl ?? (await this.getAccount(options)).orders
    if (!url) throw new UnsupportedError('this CA does not list orders (the account has no "orders" URL)')
    const seen = new Set<string>()
    while (url && !seen.has(url)) {
      seen.add(url)
      const res = await this.#post(url, '', options)
      const page = parseResource(ordersListSchema, res.body, { what: 'orders list', url, status: res.status })
      yield* page.orders
      url = linksWithRel(res.links, 'next')[0]
    }
  }

  /**
   * Finalizes a `ready` order with a CSR (DER bytes or PEM), RFC 8555 §7.4. Returns the order, usually
   * `processing`; follow with {@link AcmeClient.waitForOrder}. If the order was already finalized (a replay
   * after a lost response, or `orderNotReady` because it moved on), the current order is returned.
   */
  async finalizeOrder(order: Order, csr: Uint8Array | string, options: CallOptions = {}): Promise<Order> {
    const der = typeof csr === 'string' ? decodePem(csr, 'CERTIFICATE REQUEST').der : csr
    if (!(der instanceof Uint8Array) || der.length === 0)
      throw new InvalidArgumentError('csr must be DER bytes or PEM')
    try {
      return this.#order(await this.#post(order.finalize, { csr: encodeBase64Url(der) }, options), order.url)
    } catch (err) {
      // RFC 8555 §7.4: on orderNotReady re-read the order; a replay finds it processing or valid.
      if (isProblem(err, 'orderNotReady') || isAfterLostResponse(err)) {
        await this.#respectRetryAfter(err, options)
        const current = await this.getOrder(order.url, options)
        if (current.status === 'processing' || current.status === 'valid') return current
      }
      throw err
    }
  }

  /**
   * Polls the order until it leaves `pending`/`processing` (honouring `Retry-After`). Resolves with a `ready`
   * or `valid` order; any other status (`invalid`, or a server's own such as `deactivated`) throws
   * `AcmeStateError` `ERR_ORDER_INVALID` carrying `order.error`.
   */
  async waitForOrder(order: Order | string, options: WaitOptions = {}): Promise<Order> {
    const url = typeof order === 'string' ? order : order.url
    const result = await poll(
      { kind: 'order', url },
      // The caller's own signal: the transport adds its client-wide one itself.
      async () => {
        const res = await this.#post(url, '', options.signal ? { signal: options.signal } : {})
        return { value: this.#order(res, url), retryAfter: res.retryAfter }
      },
      (o) => o.status !== 'pending' && o.status !== 'processing',
      this.#pollOptions(options),
      this.pacer,
    )
    if (result.status !== 'ready' && result.status !== 'valid') {
      throw new AcmeStateError(
        'ERR_ORDER_INVALID',
        `order ${url} is ${result.status}${problemSuffix(result.error)}`,
        {
          url,
          problem: result.error,
        },
      )
    }
    return result
  }

  /**
   * Downloads a certificate chain (RFC 8555 §7.4.2) from a valid order or a certificate URL, with
   * `Accept: application/pem-certificate-chain`. `alternates` lists the other chains the CA offers.
   */
  async getCertificate(orderOrUrl: Order | string, options: CallOptions = {}): Promise<CertificateChain> {
    const url = typeof orderOrUrl === 'string' ? orderOrUrl : orderOrUrl.certificate
    if (!url) throw new InvalidArgumentError('the order has no certificate yet (is it valid?)')
    const res = await this.#post(url, '', { ...options, accept: PEM_CHAIN })
    const pem = typeof res.body === 'string' ? res.body : ''
    if (!CERTIFICATE_PEM.test(pem)) {
      throw new AcmeResponseError(`no PEM certificate in the response from ${url}`, {
        url,
        status: res.status,
      })
    }
    return { url, pem, alternates: linksWithRel(res.links, 'alternate') }
  }

  /** The default chain followed by every alternate chain (RFC 8555 §7.4.2), in the CA's order. */
  async getCertificateChains(
    orderOrUrl: Order | string,
    options: CallOptions = {},
  ): Promise<CertificateChain[]> {
    const first = await this.getCertificate(orderOrUrl, options)
    const rest = await Promise.all(first.alternates.map((url) => this.getCertificate(url, options)))
    return [first, ...rest]
  }

  // --- Authorizations and challenges (RFC 8555 §7.5) ------------------------------------------------------

  /**
   * Pre-authorizes an identifier (RFC 8555 §7.4.1) where the directory has `newAuthz`; else `UnsupportedError`.
   */
  async createAuthorization(
    identifier: string | Identifier,
    options: CallOptions = {},
  ): Promise<Authorization> {
    const value = toIdentifier(identifier)
    const directory = await this.directory(options)
    if (!directory.newAuthz)
      throw new UnsupportedError('this CA does not offer pre-authorization (no newAuthz)')
    const res = await this.#post(directory.newAuthz, { identifier: value }, options)
    return this.#authorization(res, this.#location(res, directory.newAuthz, 'authorization'))
  }

  /** Fetches an authorization (POST-as-GET). A `valid` one (reused by the CA) needs no challenge. */
  async getAuthorization(url: string, options: CallOptions = {}): Promise<Authorization> {
    return this.#authorization(await this.#post(checkUrl(url, 'authorization URL'), '', options), url)
  }

  /**
   * Polls until the authorization leaves `pending`. Resolves with a `valid` one; any other final status throws
   * `AcmeStateError` `ERR_AUTHORIZATION_INVALID` naming the identifier, the challenge and the server's problem.
   */
  async waitForAuthorization(
    authorization: Authorization | string,
    options: WaitOptions = {},
  ): Promise<Authorization> {
    const url = typeof authorization === 'string' ? authorization : authorization.url
    const result = await poll(
      { kind: 'authorization', url },
      async () => {
        const res = await this.#post(url, '', options.signal ? { signal: options.signal } : {})
        return { value: this.#authorization(res, url), retryAfter: res.retryAfter }
      },
      (a) => a.status !== 'pending',
      this.#pollOptions(options),
      this.pacer,
    )
    if (result.status === 'valid') return result
    const failed =
      result.challenges.find((c) => c.error) ?? result.challenges.find((c) => c.status === 'invalid')
    const name = `${result.wildcard ? '*.' : ''}${result.identifier.value}`
    throw new AcmeStateError(
      'ERR_AUTHORIZATION_INVALID',
      `authorization for ${name} is ${result.status}${failed ? ` (${failed.type} challenge${problemSuffix(failed.error)})` : ''}`,
      { url, problem: failed?.error },
    )
  }

  /** Deactivates an authorization (RFC 8555 §7.5.2). */
  async deactivateAuthorization(url: string, options: CallOptions = {}): Promise<Authorization> {
    try {
      return this.#authorization(await this.#post(url, { status: 'deactivated' }, options), url)
    } catch (err) {
      if (!(err instanceof AcmeProblemError) && !isAfterLostResponse(err)) throw err
      await this.#respectRetryAfter(err, options)
      const current = await this.getAuthorization(url, options)
      if (current.status === 'deactivated') return current
      throw err
    }
  }

  /** Fetches a challenge (POST-as-GET). */
  async getChallenge(url: string, options: CallOptions = {}): Promise<Challenge> {
    const checked = checkUrl(url, 'challenge URL')
    const res = await this.#post(checked, '', options)
    return parseResource(challengeObjectSchema, res.body, {
      what: 'challenge',
      url: checked,
      status: res.status,
    })
  }

  /**
   * Tells the CA the challenge is ready to validate (RFC 8555 §7.5.1: POST `{}`). When the CA refuses because
   * the challenge is no longer pending (a replay, or a reused authorization), the current challenge is returned.
   */
  async respondToChallenge(challenge: Challenge | string, options: CallOptions = {}): Promise<Challenge> {
    const url = checkUrl(typeof challenge === 'string' ? challenge : challenge.url, 'challenge URL')
    try {
      const res = await this.#post(url, {}, options)
      return parseResource(challengeObjectSchema, res.body, { what: 'challenge', url, status: res.status })
    } catch (err) {
      if (!(err instanceof AcmeProblemError) && !isAfterLostResponse(err)) throw err
      // The re-read is a request like any other: not sooner than the error's Retry-After.
      await this.#respectRetryAfter(err, options)
      const current = await this.getChallenge(url, options)
      if (current.status !== 'pending') return current
      throw err
    }
  }

  /** The key authorization for a challenge (RFC 8555 §8.1): `token.thumbprint(account key)`. */
  async keyAuthorization(challenge: Pick<Challenge, 'type' | 'token'>): Promise<string> {
    const token = challengeToken(challenge)
    // The thumbprint is constant per account key: one digest per key, not one per challenge.
    const jwk = this.#jwk
    if (this.#thumbprint?.jwk !== jwk) this.#thumbprint = { jwk, thumbprint: jwk.then(jwkThumbprint) }
    return keyAuthorizationWith(token, await this.#thumbprint.thumbprint)
  }

  // --- Revocation (RFC 8555 §7.6) ------------------------------------------------------------------------

  /**
   * Revokes a certificate (DER or PEM; for a chain, the first certificate). Signed by the account key, or —
   * with `certificateKey` — by the certificate's own key (`jwk` header, no account needed).
   */
  async revokeCertificate(
    certificate: Uint8Array | string,
    options: CallOptions & { reason?: RevocationReason; certificateKey?: CryptoKeyPair } = {},
  ): Promise<void> {
    const der = typeof certificate === 'string' ? decodePem(certificate, 'CERTIFICATE').der : certificate
    if (!(der instanceof Uint8Array) || der.length === 0)
      throw new InvalidArgumentError('certificate must be DER bytes or PEM')
    const payload: Record<string, unknown> = { certificate: encodeBase64Url(der) }
    if (options.reason !== undefined) payload.reason = revocationReasonCode(options.reason)
    const { revokeCert } = await this.directory(options)
    const signer: Signer = options.certificateKey
      ? {
          privateKey: checkKeyPair(options.certificateKey, 'certificateKey').privateKey,
          jwk: await exportPublicJwk(options.certificateKey.publicKey),
        }
      : { privateKey: this.#accountKey.privateKey, kid: this.#kid() }
    try {
      await this.transport.post(revokeCert, payload, signer, options)
    } catch (err) {
      // Our own earlier attempt went through when a replay hears alreadyRevoked.
      if (isAfterLostResponse(err) && isProblem(err, 'alreadyRevoked')) return
      throw err
    }
  }

  // --- internals ---------------------------------------------------------------------------------------

  /**
   * Before re-reading a resource after `err`: waits out the `Retry-After` that came with it. A wait longer than
   * the recovery is worth (a rate limit measured in hours) rethrows `err` instead.
   */
  async #respectRetryAfter(err: unknown, options: CallOptions): Promise<void> {
    const at = retryAfterOf(err)
    if (!at) return
    const wait = at.getTime() - Date.now()
    if (wait > MAX_RECOVERY_WAIT) throw err
    await sleep(wait, this.transport.signal(options.signal))
  }

  #pollOptions(options: WaitOptions): PollOptions {
    const signal = this.transport.signal(options.signal)
    return { ...this.#poll, ...options, ...(signal && { signal }) }
  }

  #kid(): string {
    if (!this.#accountUrl) {
      throw new InvalidArgumentError(
        'no account URL: call createAccount() or findAccount() first, or pass accountUrl',
      )
    }
    return this.#accountUrl
  }

  async #post(
    url: string,
    payload: unknown,
    options: CallOptions & { accept?: string },
  ): Promise<AcmeResponse> {
    return this.transport.post(
      url,
      payload,
      { privateKey: this.#accountKey.privateKey, kid: this.#kid() },
      options,
    )
  }

  /**
   * The URL of the resource a POST to `from` created (its Location header: RFC 8555 §7.3, §7.4, §7.4.1),
   * checked to be one the client may send to.
   */
  #location(res: AcmeResponse, from: string, what: 'account' | 'order' | 'authorization'): string {
    if (!res.location) {
      throw new AcmeResponseError(`no Location header (${what} URL) from ${from}`, {
        url: from,
        status: res.status,
        field: 'Location',
      })
    }
    return this.transport.checkUrl(res.location, `${what} URL (Location from ${from})`)
  }

  #account(res: AcmeResponse, url: string): Account {
    const account = {
      ...parseResource(accountSchema, res.body, { what: 'account', url, status: res.status }),
      url,
    }
    if (account.orders) this.#ordersUrl = account.orders
    return account
  }

  #order(res: AcmeResponse, url: string): Order {
    return { ...parseResource(orderSchema, res.body, { what: 'order', url, status: res.status }), url }
  }

  #authorization(res: AcmeResponse, url: string): Authorization {
    return {
      ...parseResource(authorizationSchema, res.body, { what: 'authorization', url, status: res.status }),
      url,
    }
  }
}

function problemSuffix(problem: { type: string; detail?: string | undefined } | undefined): string {
  return problem ? `: ${problem.detail ?? problem.type}` : ''
}
