/**
 * `issueCertificate()`: one call from identifiers to a verified certificate (RFC 8555 §7.4): order,
 * authorizations in parallel (bounded), challenges solved by the caller's solvers, finalize, download,
 * and checks that the certificate is the one asked for. Cleanup of every presented challenge always runs.
 */

import type { ChallengeContext, ChallengeSolver } from './challenges/solver.ts'
import type { AcmeClient, CertificateChain, NewAccountOptions } from './client.ts'
import { AcmeResponseError, AcmeStateError, InvalidArgumentError, isProblem } from './errors.ts'
import { generateKeyPair } from './jose/algorithms.ts'
import { throwIfAborted } from './lib/abort.ts'
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
  | { type: 'replaces-dropped'; replaces: string }

/** Input of {@link issueCertificate}. */
export interface IssueCertificateOptions {
  /** A client; when it has no account URL yet, the account is found or created with `account`. */
  client: AcmeClient
  /** How to create the account when the client has none (default `{ termsOfServiceAgreed: true }`). */
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
  /** Resume the order a crashed run left behind instead of placing a new one. */
  orderUrl?: string
  /** Authorizations solved at once (default 10). */
  concurrency?: number
  /** How to poll authorizations and the order (defaults: the client's). */
  poll?: Omit<PollOptions, 'signal'>
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

/**
 * Gets a certificate for `identifiers`, solving each authorization with the first suitable solver.
 *
 * Authorizations the CA already considers valid are skipped. A failed authorization throws an
 * `AcmeStateError` (`ERR_AUTHORIZATION_INVALID`) naming the identifier, the challenge type and the CA's
 * problem. Alternate chains are downloaded only to honour `preferredChain`. Cleanup runs on success, failure and abort; its failures are reported as `cleanup-error` events
 * and never replace the original error. The certificate is checked before it is returned: its public key must
 * be the CSR's and its SANs exactly the ordered identifiers (`ERR_INVALID_RESPONSE` otherwise).
 *
 * @example
 * ```ts
 * import { AcmeClient, directories, generateKeyPair, http01Solver, issueCertificate } from 'webacme'
 *
 * const http01 = http01Solver() // serve http01.handle(request) from your HTTP server on port 80
 * const client = new AcmeClient({ directoryUrl: directories.letsencrypt.staging, accountKey: await generateKeyPair() })
 * const { certificate, certificateKey } = await issueCertificate({
 *   client,
 *   identifiers: ['example.com', 'www.example.com'],
 *   solvers: [http01],
 * })
 * console.log(certificate, certificateKey.privateKey.algorithm)
 * ```
 * @see {@link https://www.rfc-editor.org/rfc/rfc8555#section-7.4 RFC 8555 §7.4}
 */
export async function issueCertificate(options: IssueCertificateOptions): Promise<IssuedCertificate> {
  const { client, signal } = options
  if (!Array.isArray(options.solvers) || options.solvers.length === 0) {
    throw new InvalidArgumentError('issueCertificate needs at least one solver')
  }
  const identifiers = toIdentifiers(options.identifiers ?? [])
  if (identifiers.length === 0)
    throw new InvalidArgumentError('issueCertificate needs at least one identifier')
  const emit = options.onEvent ?? (() => {})
  const call = signal ? { signal } : {}
  const poll = { ...options.poll, ...call }

  if (!client.accountUrl) {
    await client.createAccount({ termsOfServiceAgreed: true, ...options.account, ...call })
  }
  let order = await openOrder(options, identifiers, emit)
  const certificateKey = options.certificateKey ?? (await generateKeyPair('ES256'))

  if (order.status === 'pending') {
    await solveAuthorizations(options, order, emit)
  }
  if (order.status === 'pending' || order.status === 'ready') {
    const csr = await createCsr({ keys: certificateKey, identifiers })
    emit({ type: 'finalize', order })
    try {
      order = await client.finalizeOrder(order, csr, call)
    } catch (err) {
      // The order may lag behind its authorizations (RFC 8555 §7.4): wait for `ready`, then finalize.
      if (!isProblem(err, 'orderNotReady')) throw err
      order = await client.finalizeOrder(await client.waitForOrder(order, poll), csr, call)
    }
  }
  if (order.status !== 'valid') order = await client.waitForOrder(order, { ...poll, delayFirstRead: true })
  emit({ type: 'certificate', order })

  // Alternate chains cost a request each: fetch them only when the caller wants to choose among them.
  const chains = options.preferredChain
    ? await client.getCertificateChains(order, call)
    : [await client.getCertificate(order, call)]
  const certificate = options.preferredChain
    ? selectPreferredChain(
        chains.map((c) => c.pem),
        options.preferredChain,
      )
    : chains[0]!.pem
  const parsed = parseCertificate(certificate)
  await verifyCertificate(parsed, certificateKey, identifiers, order)
  return { certificate, certificateKey, parsed, order, chains }
}

/** A new order, or the resumed one; `replaces` is dropped once when the CA says it was already replaced. */
async function openOrder(
  options: IssueCertificateOptions,
  identifiers: OrderIdentifier[],
  emit: (event: IssueEvent) => void,
): Promise<Order> {
  const { client, signal } = options
  const call = signal ? { signal } : {}
  if (options.orderUrl) {
    const order = await client.getOrder(options.orderUrl, call)
    const wanted = identifiers.map((i) => `${i.type}:${i.value}`).sort()
    const got = toIdentifiers(order.identifiers)
      .map((i) => `${i.type}:${i.value}`)
      .sort()
    if (wanted.join() !== got.join()) {
      throw new InvalidArgumentError(`order ${order.url} is for ${got.join(', ')}, not ${wanted.join(', ')}`)
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
async function solveAuthorizations(
  options: IssueCertificateOptions,
  order: Order,
  emit: (event: IssueEvent) => void,
): Promise<void> {
  const presented: Array<{ solver: ChallengeSolver; context: ChallengeContext }> = []
  const queue = [...order.authorizations]
  const worker = async () => {
    for (let url = queue.shift(); url !== undefined; url = queue.shift()) {
      try {
        await solveOne(options, url, presented, emit)
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
  // Cleanup always runs, after every authorization is settled: an apex and its wildcard share a TXT name.
  await Promise.all(
    presented.map(async ({ solver, context }) => {
      try {
        await solver.cleanup(context)
      } catch (error) {
        emit({ type: 'cleanup-error', identifier: context.identifier, challengeType: solver.type, error })
      }
    }),
  )
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed) throw failed.reason
}

async function solveOne(
  options: IssueCertificateOptions,
  url: string,
  presented: Array<{ solver: ChallengeSolver; context: ChallengeContext }>,
  emit: (event: IssueEvent) => void,
): Promise<void> {
  const { client, signal } = options
  throwIfAborted(signal)
  const call = signal ? { signal } : {}
  const authorization = await client.getAuthorization(url, call)
  const identifier = orderedIdentifier(authorization)
  if (authorization.status === 'valid') {
    emit({ type: 'authorization', identifier, status: 'reused' })
    return
  }
  if (authorization.status !== 'pending') {
    throw new AcmeStateError(
      'ERR_AUTHORIZATION_INVALID',
      `authorization for ${identifier.value} is ${authorization.status}`,
      {
        url,
      },
    )
  }
  const choice = pickSolver(options.solvers, authorization, identifier)
  const { solver, challenge } = choice
  const context: ChallengeContext = {
    authorization,
    challenge,
    identifier,
    keyAuthorization: challenge.token ? await client.keyAuthorization(challenge) : undefined,
    accountUrl: client.accountUrl!,
    ...call,
  }
  emit({ type: 'authorization', identifier, status: 'presenting' })
  presented.push({ solver, context })
  await solver.present(context)
  await solver.ready?.(context)
  emit({ type: 'authorization', identifier, status: 'validating' })
  if (challenge.status === 'pending') await client.respondToChallenge(challenge, call)
  await client.waitForAuthorization(authorization, { ...options.poll, ...call, delayFirstRead: true })
  emit({ type: 'authorization', identifier, status: 'valid' })
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
  const offered = authorization.challenges.map((c) => c.type).join(', ')
  throw new InvalidArgumentError(
    `no solver for ${identifier.value}: the CA offers ${offered || 'no challenge'}, solvers handle ${solvers.map((s) => s.type).join(', ')}`,
  )
}

/** The certificate must carry the CSR's key and exactly the ordered identifiers (RFC 8555 §7.4, §11.1). */
async function verifyCertificate(
  parsed: ParsedCertificate,
  key: CryptoKeyPair,
  identifiers: OrderIdentifier[],
  order: Order,
): Promise<void> {
  const url = order.certificate ?? order.url
  if (!(await certificateMatchesKey(parsed, key))) {
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
      {
        url,
        status: 200,
      },
    )
  }
}
