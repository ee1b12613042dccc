/**
 * `issueCertificate()`: one call from identifiers to a verified certificate (RFC 8555 §7.4): order,
 * authorizations in parallel (bounded), challenges solved by the caller's solvers, finalize, download,
 * and checks that the certificate is the one asked for.
 *
 * Made to survive what happens at the edge:
 * - caller mistakes (no solver for a wildcard, a key that cannot sign, no agreement to the terms) fail before the
 *   first request;
 * - every await on caller code (solvers, hooks) is raced with the signal, so an abort settles the call at once;
 * - cleanup of every presented challenge always runs, within its own time, and never hides the original error;
 * - a failed order's pending authorizations are deactivated (RFC 8555 §7.5.2), so they do not count against the
 *   CA's limits;
 * - hooks hand the caller each fact a crashed run needs to resume (the order URL, what was presented, the
 *   certificate key) before the request that depends on it.
 */

import { cleanupPresented, type PresentedChallenge } from './challenges/presented.ts'
import type { ChallengeContext, ChallengeSolver } from './challenges/solver.ts'
import type { AcmeClient, CertificateChain, NewAccountOptions } from './client.ts'
import { AcmeResponseError, AcmeStateError, InvalidArgumentError, isProblem } from './errors.ts'
import { checkSigningKey, generateKeyPair } from './jose/algorithms.ts'
import { raceSignal, throwIfAborted } from './lib/abort.ts'
import { equalBytes } from './lib/bytes.ts'
import { Limiter } from './lib/limiter.ts'
import type { AbortSignalLike, CryptoKeyPair } from './lib/web-types.ts'
import { certificateMatchesKey, type ParsedCertificate, parseCertificate } from './pkix/certificate.ts'
import { selectPreferredChain } from './pkix/chain.ts'
import { createCsr } from './pkix/csr.ts'
import { type OrderIdentifier, toIdentifiers } from './protocol/identifiers.ts'
import type { PollOptions } from './protocol/poll.ts'
import type { Authorization, Identifier, Order } from './protocol/resources.ts'

/** Progress of {@link issueCertificate}, for logs and UIs. */
export type IssueEvent =
  | { type: 'order'; order: Order; resumed: boolean }
  | {
      type: 'authorization'
      identifier: Identifier
      status: 'reused' | 'presenting' | 'validating' | 'valid'
    }
  | { type: 'finalize'; order: Order }
  | { type: 'certificate'; order: Order }
  | { type: 'cleanup-error'; identifier: Identifier; challengeType: string; error: unknown }
  | { type: 'authorization-deactivated'; url: string; identifier: Identifier }
  | { type: 'deactivate-error'; url: string; error: unknown }
  | { type: 'replaces-dropped'; replaces: string }

/**
 * Awaited callbacks that let a caller persist what a crashed run needs, each before the request that depends
 * on it. A hook that throws fails the issuance (nothing is sent after it); each is raced with the signal.
 */
export interface IssueHooks {
  /** The order was placed or resumed; nothing is presented before this resolves. Persist `order.url`. */
  order?(order: Order): void | Promise<void>
  /** A challenge is about to be presented. Persist it, to clean it up after a crash ({@link cleanupPresented}). */
  present?(presented: PresentedChallenge): void | Promise<void>
  /** A presented challenge was cleaned up: forget it. */
  cleanedUp?(presented: PresentedChallenge): void | Promise<void>
  /**
   * The order is about to be finalized with this key. Persist the private key: a finalized order can only be
   * completed with the key its CSR carried.
   */
  finalize?(input: { order: Order; certificateKey: CryptoKeyPair }): void | Promise<void>
}

/** Input of {@link issueCertificate}. */
export interface IssueCertificateOptions {
  /** A client; when it has no account URL yet, the account is found or created with `account`. */
  client: AcmeClient
  /**
   * How to create the account when the client has none. Needs the user's explicit `termsOfServiceAgreed: true`:
   * webacme never agrees on anyone's behalf.
   */
  account?: Omit<NewAccountOptions, 'signal'>
  /** DNS names (`*.example.com` for wildcards) and IP addresses. */
  identifiers: Array<string | Identifier>
  /** Solvers in order of preference: each authorization uses the first one the CA offers and that can solve it. */
  solvers: ChallengeSolver[]
  /**
   * Certificate profile. By default none, except that an order with IP identifiers asks for `shortlived`
   * when the CA offers it (Let's Encrypt issues IP certificates only there); `false` disables that.
   */
  profile?: string | false
  /** The certificate key pair (default: a new ECDSA P-256 pair). */
  certificateKey?: CryptoKeyPair
  /** Pick the chain whose top certificate is issued by this common name (`Link: rel="alternate"`). */
  preferredChain?: string
  notBefore?: Date | string
  notAfter?: Date | string
  /** RFC 9773 CertID of the certificate this one replaces. Dropped and retried once on `alreadyReplaced`. */
  replaces?: string
  /**
   * Resume the order a crashed run left behind instead of placing a new one. An order already finalized
   * (`processing`, `valid`) needs the `certificateKey` it was finalized with (`ERR_CERTIFICATE_KEY_REQUIRED`).
   */
  orderUrl?: string
  /** Authorizations solved at once (default 10). */
  concurrency?: number
  /** How to poll authorizations and the order (defaults: the client's). */
  poll?: Omit<PollOptions, 'signal'>
  /** Milliseconds the cleanup of presented challenges may take, after success, failure or abort (default 30 000). */
  cleanupTimeout?: number
  /** Deactivate the order's pending authorizations when the issuance fails (default true; RFC 8555 §7.5.2). */
  deactivateOnFailure?: boolean
  /**
   * Also deactivate them when the issuance is aborted through `signal` (default false: an abort sends nothing
   * more). A command line stopped by Ctrl-C sets it, so that an interrupted run leaves no pending authorization
   * behind; the client must then not carry the same signal client-wide, or these requests fail too.
   */
  deactivateOnAbort?: boolean
  /** Awaited callbacks to persist what a crashed run needs ({@link IssueHooks}). */
  hooks?: IssueHooks
  signal?: AbortSignalLike
  onEvent?: (event: IssueEvent) => void
}

/** The result of {@link issueCertificate}. */
export interface IssuedCertificate {
  /** PEM chain: the certificate first, then its issuers (the preferred chain when asked). */
  certificate: string
  /** The certificate's key pair. */
  certificateKey: CryptoKeyPair
  /** The parsed end-entity certificate. */
  parsed: ParsedCertificate
  /** The order, `valid`. */
  order: Order
  /**
   * The chains downloaded: the default one, then every alternate when `preferredChain` was given. The default's
   * `alternates` lists the alternate URLs either way.
   */
  chains: CertificateChain[]
}

/** What one issuance keeps while it runs. */
interface Flow {
  options: IssueCertificateOptions
  identifiers: OrderIdentifier[]
  emit: (event: IssueEvent) => void
  /** Caller code (solvers, hooks), raced with the signal. */
  user: <T>(work: () => T | Promise<T>) => Promise<T>
  /** Authorizations seen `pending` and not (yet) seen valid: deactivated if the issuance fails. */
  pending: Map<string, Identifier>
  /** Authorization URLs never read (the work stopped before them). */
  unread: Set<string>
  /** A certificate request made elsewhere (issueCertificateForCsr): finalized as it is, no key here. */
  csr?: FixedCsr
}

/**
 * A certificate request made elsewhere, as the issuance flow uses it: its DER, and the SubjectPublicKeyInfo the
 * certificate must carry. Internal: see `issueCertificateForCsr` (issue-csr.ts).
 */
export interface FixedCsr {
  der: Uint8Array
  subjectPublicKeyInfo: Uint8Array
}

/** What the flow returns: `certificateKey` is absent exactly when it finalized a {@link FixedCsr}. */
export type IssuedByFlow = Omit<IssuedCertificate, 'certificateKey'> & { certificateKey?: CryptoKeyPair }

/**
 * Gets a certificate for `identifiers`, solving each authorization with the first suitable solver.
 *
 * Authorizations the CA already considers valid are skipped. A failed authorization throws an
 * `AcmeStateError` (`ERR_AUTHORIZATION_INVALID`) naming the identifier, the challenge type and the CA's
 * problem. Alternate chains are downloaded only to honour `preferredChain`. Cleanup runs on success, failure and
 * abort; its failures are reported as `cleanup-error` events and never replace the original error. The
 * certificate is checked before it is returned: its public key must be the CSR's and its SANs exactly the
 * ordered identifiers (`ERR_INVALID_RESPONSE` otherwise).
 *
 * @example
 * ```ts
 * import { AcmeClient, directories, generateKeyPair, http01Solver, issueCertificate } from 'webacme'
 *
 * const http01 = http01Solver() // serve http01.handle(request) from your HTTP server on port 80
 * const client = new AcmeClient({ directoryUrl: directories.letsencrypt.staging, accountKey: await generateKeyPair() })
 * const { certificate, certificateKey } = await issueCertificate({
 *   client,
 *   account: { termsOfServiceAgreed: true, contact: ['mailto:ops@example.com'] },
 *   identifiers: ['example.com', 'www.example.com'],
 *   solvers: [http01],
 * })
 * console.log(certificate, certificateKey.privateKey.algorithm)
 * ```
 * @see {@link https://www.rfc-editor.org/rfc/rfc8555#section-7.4 RFC 8555 §7.4}
 */
export async function issueCertificate(options: IssueCertificateOptions): Promise<IssuedCertificate> {
  return (await runIssuance(options, checkOptions(options))) as IssuedCertificate
}

/**
 * The issuance behind {@link issueCertificate} and `issueCertificateForCsr`: one account per client, the client's
 * issuance slots, then the flow. Internal (not exported from the package).
 */
export async function runIssuance(
  options: IssueCertificateOptions,
  identifiers: OrderIdentifier[],
  csr?: FixedCsr,
): Promise<IssuedByFlow> {
  const { client, signal } = options
  // One account for every concurrent issuance of a client that has none yet.
  if (!client.accountUrl) await createAccountOnce(client, options)
  let slots = issuanceSlots.get(client)
  if (!slots) {
    slots = new Limiter(client.maxConcurrentIssuances)
    issuanceSlots.set(client, slots)
  }
  return slots.run(() => issue(options, identifiers, csr), signal)
}

/** Issuances running per client: at most `client.maxConcurrentIssuances`, first come first served. */
const issuanceSlots = new WeakMap<AcmeClient, Limiter>()
/** Account creations in flight per client, shared by the issuances that need one. */
const accountCreations = new WeakMap<AcmeClient, Promise<unknown>>()

function createAccountOnce(client: AcmeClient, options: IssueCertificateOptions): Promise<unknown> {
  let creating = accountCreations.get(client)
  if (!creating) {
    // Under the transport-wide signal only: one caller's abort must not fail the others' account.
    creating = client.createAccount({ ...(options.account as NewAccountOptions) })
    accountCreations.set(client, creating)
    creating.then(
      () => accountCreations.delete(client),
      () => accountCreations.delete(client),
    )
  }
  return raceSignal(creating, options.signal)
}

async function issue(
  options: IssueCertificateOptions,
  identifiers: OrderIdentifier[],
  fixed: FixedCsr | undefined,
): Promise<IssuedByFlow> {
  const { client, signal } = options
  const call = signal ? { signal } : {}
  const poll = { ...options.poll, ...call }
  const flow: Flow = {
    options,
    identifiers,
    emit: options.onEvent ?? (() => {}),
    user: (work) => raceSignal(Promise.resolve().then(work), signal),
    pending: new Map(),
    unread: new Set(),
    ...(fixed && { csr: fixed }),
  }
  const hooks = options.hooks ?? {}

  let order = await openOrder(flow)
  await flow.user(() => hooks.order?.(order))

  try {
    if (order.status === 'pending') await solveAuthorizations(flow, order)
    let certificateKey = options.certificateKey
    if (order.status === 'pending' || order.status === 'ready') {
      let csr: Uint8Array
      if (fixed) {
        // The caller keeps the request (and its key): nothing to persist before finalize.
        csr = fixed.der
      } else {
        certificateKey ??= await generateKeyPair('ES256')
        const key = certificateKey
        csr = await createCsr({ keys: key, identifiers })
        await flow.user(() => hooks.finalize?.({ order, certificateKey: key }))
      }
      flow.emit({ type: 'finalize', order })
      try {
        order = await client.finalizeOrder(order, csr, call)
      } catch (err) {
        // The order may lag behind its authorizations (RFC 8555 §7.4): wait for `ready`, then finalize.
        if (!isProblem(err, 'orderNotReady')) throw err
        order = await client.finalizeOrder(await client.waitForOrder(order, poll), csr, call)
      }
    }
    if (order.status !== 'valid') order = await client.waitForOrder(order, { ...poll, delayFirstRead: true })
    flow.emit({ type: 'certificate', order })

    // Alternate chains cost a request each: fetch them only when the caller wants to choose among them.
    const chains = options.preferredChain
      ? await client.getCertificateChains(order, call)
      : [await client.getCertificate(order, call)]
    const { certificate, parsed } = fromServer(order, () => {
      const pem = options.preferredChain
        ? selectPreferredChain(
            chains.map((c) => c.pem),
            options.preferredChain,
          )
        : chains[0]!.pem
      return { certificate: pem, parsed: parseCertificate(pem) }
    })
    if (fixed) {
      await verifyCertificate(
        parsed,
        equalBytes(parsed.subjectPublicKeyInfo, fixed.subjectPublicKeyInfo),
        identifiers,
        order,
      )
      return { certificate, parsed, order, chains }
    }
    // openOrder refused a finalized order without its key.
    const key = certificateKey!
    await verifyCertificate(parsed, await certificateMatchesKey(parsed, key), identifiers, order)
    return { certificate, certificateKey: key, parsed, order, chains }
  } catch (err) {
    const deactivate = signal?.aborted
      ? options.deactivateOnAbort === true
      : options.deactivateOnFailure !== false
    if (deactivate) await deactivatePending(flow)
    throw err
  }
}

/** Everything that can be checked before the first request. Returns the normalised identifiers. */
export function checkOptions(options: IssueCertificateOptions): OrderIdentifier[] {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options are required')
  if (!Array.isArray(options.solvers) || options.solvers.length === 0) {
    throw new InvalidArgumentError('issueCertificate needs at least one solver')
  }
  const identifiers = toIdentifiers(options.identifiers ?? [])
  if (identifiers.length === 0)
    throw new InvalidArgumentError('issueCertificate needs at least one identifier')
  for (const identifier of identifiers) {
    if (options.solvers.some((s) => s.canSolve?.(identifier) ?? true)) continue
    const wildcard = identifier.value.startsWith('*.')
    throw new InvalidArgumentError(
      `no solver can answer for ${identifier.value}: ${options.solvers.map((s) => s.type).join(', ')} cannot${wildcard ? '; a wildcard needs dns-01 (RFC 8555 §7.1.3)' : ''}`,
      { code: 'ERR_NO_SOLVER' },
    )
  }
  if (options.certificateKey !== undefined) {
    const key = options.certificateKey
    if (typeof key !== 'object' || key === null || key.publicKey?.type !== 'public') {
      throw new InvalidArgumentError('certificateKey must be a CryptoKeyPair ({ privateKey, publicKey })')
    }
    checkSigningKey(key.privateKey, 'certificateKey')
  }
  if (!options.client?.accountUrl && options.account?.termsOfServiceAgreed !== true) {
    throw new InvalidArgumentError(
      "the client has no account yet, and creating one needs the user's explicit agreement to the CA's terms of service: pass account: { termsOfServiceAgreed: true } (or give the client an accountUrl)",
      { code: 'ERR_TERMS_NOT_AGREED' },
    )
  }
  return identifiers
}

/** A new order, or the resumed one; `replaces` is dropped once when the CA says it was already replaced. */
async function openOrder(flow: Flow): Promise<Order> {
  const { options, identifiers, emit } = flow
  const { client, signal } = options
  const call = signal ? { signal } : {}
  if (options.orderUrl) {
    const order = await client.getOrder(options.orderUrl, call)
    const wanted = identifiers.map((i) => `${i.type}:${i.value}`).sort()
    const got = fromServer(order, () => toIdentifiers(order.identifiers))
      .map((i) => `${i.type}:${i.value}`)
      .sort()
    if (wanted.join() !== got.join()) {
      throw new InvalidArgumentError(`order ${order.url} is for ${got.join(', ')}, not ${wanted.join(', ')}`)
    }
    if ((order.status === 'processing' || order.status === 'valid') && !options.certificateKey && !flow.csr) {
      throw new InvalidArgumentError(
        `order ${order.url} is already ${order.status}: it can only be completed with the certificate key it was finalized with; pass certificateKey (persist it in hooks.finalize)`,
        { code: 'ERR_CERTIFICATE_KEY_REQUIRED' },
      )
    }
    if (order.status !== 'invalid') {
      emit({ type: 'order', order, resumed: true })
      return order
    }
  }
  const profile = await chooseProfile(options, identifiers)
  const request = {
    identifiers,
    ...(options.notBefore !== undefined && { notBefore: options.notBefore }),
    ...(options.notAfter !== undefined && { notAfter: options.notAfter }),
    ...(profile !== undefined && { profile }),
  }
  let order: Order
  try {
    order = await client.createOrder(
      { ...request, ...(options.replaces !== undefined && { replaces: options.replaces }) },
      call,
    )
  } catch (err) {
    // RFC 9773 §5: another order already replaced that certificate; this one need not claim it.
    if (options.replaces === undefined || !isProblem(err, 'alreadyReplaced')) throw err
    emit({ type: 'replaces-dropped', replaces: options.replaces })
    order = await client.createOrder(request, call)
  }
  emit({ type: 'order', order, resumed: false })
  return order
}

async function chooseProfile(
  options: IssueCertificateOptions,
  identifiers: OrderIdentifier[],
): Promise<string | undefined> {
  if (typeof options.profile === 'string') return options.profile
  if (options.profile === false || !identifiers.some((i) => i.type === 'ip')) return undefined
  const directory = await options.client.directory(options.signal ? { signal: options.signal } : {})
  return directory.meta?.profiles && Object.hasOwn(directory.meta.profiles, 'shortlived')
    ? 'shortlived'
    : undefined
}

/** Solves every pending authorization, `concurrency` at a time; cleans up everything it presented. */
async function solveAuthorizations(flow: Flow, order: Order): Promise<void> {
  const { options, emit } = flow
  const presented: PresentedChallenge[] = []
  const queue = [...order.authorizations]
  for (const url of queue) flow.unread.add(url)
  const worker = async () => {
    for (let url = queue.shift(); url !== undefined; url = queue.shift()) {
      try {
        await solveOne(flow, url, presented)
      } catch (err) {
        queue.length = 0 // one failure fails the order: start nothing new
        throw err
      }
    }
  }
  const concurrency = Math.max(1, options.concurrency ?? 10)
  const results = await Promise.allSettled(
    Array.from({ length: Math.min(concurrency, queue.length) }, worker),
  )
  // Cleanup always runs, after every authorization is settled (an apex and its wildcard share a TXT name),
  // with its own time: the caller's signal may be the reason we are here.
  await cleanupPresented(options.solvers, presented, {
    timeout: options.cleanupTimeout ?? 30_000,
    onCleaned: (p) => options.hooks?.cleanedUp?.(p),
    onError: (p, error) =>
      emit({ type: 'cleanup-error', identifier: p.context.identifier, challengeType: p.type, error }),
  })
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed) throw failed.reason
}

async function solveOne(flow: Flow, url: string, presented: PresentedChallenge[]): Promise<void> {
  const { options, emit, user } = flow
  const { client, signal } = options
  throwIfAborted(signal)
  const call = signal ? { signal } : {}
  const authorization = await client.getAuthorization(url, call)
  flow.unread.delete(url)
  const identifier = orderedIdentifier(authorization)
  if (authorization.status === 'valid') {
    emit({ type: 'authorization', identifier, status: 'reused' })
    return
  }
  if (authorization.status !== 'pending') {
    throw new AcmeStateError(
      'ERR_AUTHORIZATION_INVALID',
      `authorization for ${identifier.value} is ${authorization.status}`,
      { url },
    )
  }
  flow.pending.set(url, identifier)
  const { solver, challenge } = pickSolver(options.solvers, authorization, identifier)
  const context: ChallengeContext = {
    authorization,
    challenge,
    identifier,
    keyAuthorization: challenge.token ? await client.keyAuthorization(challenge) : undefined,
    accountUrl: client.accountUrl!,
  }
  const record: PresentedChallenge = { type: solver.type, context }
  await user(() => options.hooks?.present?.(record))
  emit({ type: 'authorization', identifier, status: 'presenting' })
  presented.push(record)
  const live = { ...context, ...call }
  await user(() => solver.present(live))
  await user(() => solver.ready?.(live))
  emit({ type: 'authorization', identifier, status: 'validating' })
  if (challenge.status === 'pending') await client.respondToChallenge(challenge, call)
  try {
    await client.waitForAuthorization(authorization, { ...options.poll, ...call, delayFirstRead: true })
  } catch (err) {
    // An invalid authorization is final: nothing to deactivate.
    if (err instanceof AcmeStateError && err.code === 'ERR_AUTHORIZATION_INVALID') flow.pending.delete(url)
    throw err
  }
  flow.pending.delete(url)
  emit({ type: 'authorization', identifier, status: 'valid' })
}

/**
 * RFC 8555 §7.5.2: after a failure, deactivate the authorizations this order left pending, so they do not count
 * against the CA's pending-authorization limit. Best effort, within its own time; never hides the failure.
 */
async function deactivatePending(flow: Flow): Promise<void> {
  const { client } = flow.options
  const signal = AbortSignal.timeout(flow.options.cleanupTimeout ?? 30_000)
  // Authorizations the work stopped before: pending unless the CA reused a valid one, so read them first.
  await Promise.all(
    [...flow.unread].map(async (url) => {
      try {
        const authorization = await client.getAuthorization(url, { signal })
        if (authorization.status === 'pending') flow.pending.set(url, orderedIdentifier(authorization))
      } catch (error) {
        flow.emit({ type: 'deactivate-error', url, error })
      }
    }),
  )
  await Promise.all(
    [...flow.pending].map(async ([url, identifier]) => {
      try {
        await client.deactivateAuthorization(url, { signal })
        flow.emit({ type: 'authorization-deactivated', url, identifier })
      } catch (error) {
        flow.emit({ type: 'deactivate-error', url, error })
      }
    }),
  )
}

function orderedIdentifier(authorization: Authorization): Identifier {
  const { identifier } = authorization
  return authorization.wildcard ? { type: identifier.type, value: `*.${identifier.value}` } : identifier
}

function pickSolver(solvers: ChallengeSolver[], authorization: Authorization, identifier: Identifier) {
  for (const solver of solvers) {
    const challenge = authorization.challenges.find((c) => c.type === solver.type)
    if (challenge && (solver.canSolve?.(identifier) ?? true)) return { solver, challenge }
  }
  // The solvers could answer for this name (checked before the order): the CA does not offer their types.
  const offered = authorization.challenges.map((c) => c.type).join(', ')
  throw new AcmeResponseError(
    `the CA offers ${offered || 'no challenge'} for ${identifier.value}; the solvers handle ${solvers.map((s) => s.type).join(', ')}`,
    { url: authorization.url, status: 200, field: 'challenges' },
  )
}

/** Parses server data; a parser's argument error becomes an `AcmeResponseError` about the order. */
function fromServer<T>(order: Order, parse: () => T): T {
  try {
    return parse()
  } catch (cause) {
    if (!(cause instanceof InvalidArgumentError)) throw cause
    const url = order.certificate ?? order.url
    throw new AcmeResponseError(`unusable data from ${url}: ${cause.message}`, { url, status: 200, cause })
  }
}

/** The certificate must carry the CSR's key and exactly the ordered identifiers (RFC 8555 §7.4, §11.1). */
async function verifyCertificate(
  parsed: ParsedCertificate,
  keyMatches: boolean,
  identifiers: OrderIdentifier[],
  order: Order,
): Promise<void> {
  const url = order.certificate ?? order.url
  if (!keyMatches) {
    throw new AcmeResponseError(`the certificate from ${url} does not carry the CSR's public key`, {
      url,
      status: 200,
    })
  }
  const got = [
    ...parsed.dnsNames.map((v) => `dns:${v.toLowerCase()}`),
    ...parsed.ipAddresses.map((v) => `ip:${v}`),
  ].sort()
  const wanted = identifiers.map((i) => `${i.type}:${i.value}`).sort()
  if (got.join() !== wanted.join()) {
    throw new AcmeResponseError(
      `the certificate from ${url} names ${got.join(', ')}, the order ${wanted.join(', ')}`,
      { url, status: 200 },
    )
  }
}
