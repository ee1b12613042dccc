/**
 * The on-demand certificate manager's decisions, on Web APIs alone: which name may get a certificate, when to
 * order, who orders (single flight in the process, a storage lease across processes), which CA, when to stop
 * asking a CA that is down, when to renew. `src/tls/manager.ts` adds the `node:tls` side (secure contexts, the
 * tls-alpn-01 listener, the Node HTTP handler).
 *
 * @module
 */

import { dns01Solver } from '../challenges/dns-01.ts'
import type { ChallengeSolver } from '../challenges/solver.ts'
import type { DnsAdapter } from '../dns/adapter.ts'
import { InvalidArgumentError } from '../errors.ts'
import { issueCertificate } from '../issue.ts'
import { generateKeyPair } from '../jose/algorithms.ts'
import type { CryptoKeyPair } from '../lib/web-types.ts'
import { CaUnavailableError } from '../protocol/circuit-breaker.ts'
import { type CertificateRecord, certificateRecord, readCertificateRecord } from '../renewal/records.ts'
import { renewDue } from '../renewal/renew.ts'
import { fencedPut, type Lease, type Locker, lockerFor } from '../storage/lock.ts'
import { type Storage, storageKeys } from '../storage/storage.ts'
import { lookupHttp01, lookupTlsAlpn01, storageHttp01Solver, storageTlsAlpn01Solver } from './challenges.ts'
import { CertificateManagerError } from './errors.ts'
import { LruMap } from './lru.ts'
import {
  compileAllow,
  coveringWildcard,
  normalizeCertificateName,
  normalizeServerName,
  storageName,
} from './names.ts'
import { SlidingWindow } from './rate.ts'
import type {
  AllowContext,
  CertificateKeyType,
  CertificateManagerEvent,
  CertificateManagerEventType,
  CertificateManagerOptions,
  CertificateManagerStats,
  CertificatePems,
  Issuer,
  RefusalReason,
} from './types.ts'

/** A certificate the manager holds: what a TLS server needs, and when it is due. */
export interface HeldCertificate extends CertificatePems {
  /** The certificate's name (`a.example.com`, `*.example.com`). */
  name: string
  notBefore: Date
}

interface Remembered {
  until: number
  error?: unknown
  reason?: RefusalReason
}

type Listener = (event: CertificateManagerEvent) => void

const MINUTE = 60_000

/** The manager's logic; the runtime glue wraps it. */
export class OnDemandCore {
  readonly storage: Storage
  readonly #locker: Locker
  readonly #allow: (name: string, context: AllowContext) => boolean | Promise<boolean>
  readonly #issuers: Issuer[]
  readonly #solvers: ChallengeSolver[]
  readonly #keyType: CertificateKeyType
  readonly #options: CertificateManagerOptions
  readonly #held: LruMap<string, HeldCertificate>
  readonly #refusals: LruMap<string, Remembered>
  readonly #failures: LruMap<string, Remembered>
  readonly #perClient: LruMap<string, SlidingWindow>
  readonly #overall: SlidingWindow
  readonly #inFlight = new Map<string, Promise<HeldCertificate>>()
  readonly #listeners = new Map<CertificateManagerEventType, Set<Listener>>()
  readonly #staleReported = new Set<string>()
  readonly #leases = new Set<Lease>()
  readonly #limits: Required<NonNullable<CertificateManagerOptions['limits']>>
  readonly #counters = {
    ordersPlaced: 0,
    issued: 0,
    renewed: 0,
    refused: 0,
    failed: 0,
    servedStale: 0,
    loadedFromStorage: 0,
    servedFromMemory: 0,
    waitedForOtherProcess: 0,
    tlsAlpn01Answered: 0,
    http01Answered: 0,
  }
  readonly #closing = new AbortController()
  #renewTimer: ReturnType<typeof setTimeout> | undefined
  #renewing: Promise<void> | undefined

  constructor(options: CertificateManagerOptions) {
    this.#options = options
    if (!options || typeof options !== 'object') throw missing('options')
    this.#allow = compileAllow(options.allow)
    if (!options.storage) throw missing('storage')
    if (!options.client) throw missing('client')
    if (options.account?.termsOfServiceAgreed !== true) {
      throw new InvalidArgumentError(
        "createCertificateManager needs the user's explicit agreement to the CA's terms of service: account: { termsOfServiceAgreed: true }",
        { code: 'ERR_TERMS_NOT_AGREED' },
      )
    }
    this.storage = options.storage
    this.#locker = lockerFor(options.storage)
    this.#issuers = [{ client: options.client, account: options.account }, ...(options.issuers ?? [])]
    const l = options.limits ?? {}
    this.#limits = {
      issuancesPerMinute: l.issuancesPerMinute ?? 60,
      issuancesPerMinutePerClient: l.issuancesPerMinutePerClient ?? 10,
      refusalTtl: l.refusalTtl ?? 10 * MINUTE,
      failureTtl: l.failureTtl ?? 5 * MINUTE,
      maxCertificates: l.maxCertificates ?? 10_000,
      maxRemembered: l.maxRemembered ?? 10_000,
      maxClients: l.maxClients ?? 10_000,
      waitTimeout: l.waitTimeout ?? 180_000,
      lockTtl: l.lockTtl ?? 30_000,
    }
    this.#held = new LruMap(this.#limits.maxCertificates)
    this.#refusals = new LruMap(this.#limits.maxRemembered)
    this.#failures = new LruMap(this.#limits.maxRemembered)
    this.#perClient = new LruMap(this.#limits.maxClients)
    this.#overall = new SlidingWindow(this.#limits.issuancesPerMinute, MINUTE)
    this.#keyType = options.keyType ?? 'ec-p256'
    const challenges = options.challenges ?? {}
    this.#solvers = []
    if (challenges.tlsAlpn01 !== false) this.#solvers.push(storageTlsAlpn01Solver(this.storage))
    if (challenges.http01 !== false) this.#solvers.push(storageHttp01Solver(this.storage))
    if (challenges.dns01) {
      const dns = challenges.dns01
      this.#solvers.push('present' in dns ? dns : dns01Solver({ adapter: dns as DnsAdapter }))
    }
    if (options.onEvent) {
      const all = options.onEvent
      for (const type of ['issued', 'renewed', 'refused', 'failed', 'served-stale'] as const) {
        this.#listeners.set(type, new Set([all]))
      }
    }
    const interval = Math.max(1000, options.renewal?.interval ?? 60 * MINUTE)
    this.#scheduleRenewal(interval)
  }

  // --- serving --------------------------------------------------------------------------------------------

  /** A certificate held in memory for `serverName` (exact, else a covering wildcard), without any I/O. */
  held(serverName: string): HeldCertificate | undefined {
    const lower = serverName.toLowerCase()
    const name = lower.endsWith('.') ? lower.slice(0, -1) : lower
    const found = this.#held.get(name) ?? this.#held.get(coveringWildcard(name) ?? '')
    if (found) {
      this.#counters.servedFromMemory++
      this.#checkStale(found)
    }
    return found
  }

  /** The certificate for a TLS server name: from memory, the storage, or a new order. */
  certificateFor(serverName: string, context: AllowContext = {}): Promise<HeldCertificate> {
    const name = normalizeServerName(serverName)
    if (name === undefined) {
      return Promise.reject(this.#refuse(safeName(serverName), 'invalid-name', context, false))
    }
    const held = this.held(name)
    if (held) return Promise.resolve(held)
    if (this.#closing.signal.aborted) return Promise.reject(this.#refuse(name, 'closed', context, false))
    const refusal = this.#refusals.get(name)
    if (refusal && refusal.until > Date.now()) {
      return Promise.reject(this.#refuse(name, refusal.reason ?? 'not-allowed', context, true))
    }
    const running = this.#inFlight.get(name)
    if (running) return running
    const flight = this.#obtain(name, context).finally(() => this.#inFlight.delete(name))
    this.#inFlight.set(name, flight)
    return flight
  }

  /** Issues `names` ahead of time, without asking `allow`. */
  async ensure(
    names: readonly string[],
  ): Promise<Array<{ name: string; held?: HeldCertificate; error?: unknown }>> {
    return Promise.all(
      names.map(async (raw) => {
        let name = String(raw)
        try {
          name = normalizeCertificateName(raw)
          const existing = this.#held.get(name) ?? (await this.#fromStorage(name))
          if (existing) return { name, held: existing }
          const running = this.#inFlight.get(name)
          if (running) return { name, held: await running }
          const flight = this.#order(name).finally(() => this.#inFlight.delete(name))
          this.#inFlight.set(name, flight)
          return { name, held: await flight }
        } catch (error) {
          return { name, error }
        }
      }),
    )
  }

  /** The http-01 key authorization for a request path, from the storage. */
  async http01(pathname: string): Promise<string | undefined> {
    const answer = await lookupHttp01(this.storage, pathname)
    if (answer !== undefined) this.#counters.http01Answered++
    return answer
  }

  /** The tls-alpn-01 certificate for a server name, from the storage. */
  async tlsAlpn01(serverName: string): ReturnType<typeof lookupTlsAlpn01> {
    const answer = await lookupTlsAlpn01(this.storage, serverName)
    if (answer !== undefined) this.#counters.tlsAlpn01Answered++
    return answer
  }

  async #obtain(name: string, context: AllowContext): Promise<HeldCertificate> {
    let allowed: boolean
    try {
      allowed = (await this.#allow(name, context)) === true
    } catch (error) {
      // The policy itself failed (its database is down): not a refusal to remember, but no order either.
      this.#emit({ type: 'failed', name, error, fastFail: true })
      this.#counters.failed++
      throw new CertificateManagerError('ERR_ISSUANCE_FAILED', name, `the allow policy failed for ${name}`, {
        cause: error,
      })
    }
    if (!allowed) {
      this.#refusals.set(name, { until: Date.now() + this.#limits.refusalTtl, reason: 'not-allowed' })
      throw this.#refuse(name, 'not-allowed', context, false)
    }
    const stored = await this.#fromStorage(name)
    if (stored) return stored
    const failure = this.#failures.get(name)
    if (failure && failure.until > Date.now()) {
      this.#counters.failed++
      this.#emit({ type: 'failed', name, error: failure.error, fastFail: true })
      throw new CertificateManagerError(
        'ERR_ISSUANCE_FAILED',
        name,
        `${name} failed recently; not retried yet`,
        {
          cause: failure.error,
        },
      )
    }
    if (!this.#anyIssuerOpen()) throw this.#circuitOpen(name)
    const now = Date.now()
    if (context.remoteAddress !== undefined) {
      let window = this.#perClient.get(context.remoteAddress)
      if (!window) {
        window = new SlidingWindow(this.#limits.issuancesPerMinutePerClient, MINUTE)
        this.#perClient.set(context.remoteAddress, window)
      }
      if (!window.take(now)) throw this.#refuse(name, 'client-rate-limited', context, false)
    }
    if (!this.#overall.take(now)) throw this.#refuse(name, 'rate-limited', context, false)
    return this.#order(name)
  }

  /** Loads `certificates/<name>` (or the covering wildcard's) into memory when it is still valid. */
  async #fromStorage(name: string): Promise<HeldCertificate | undefined> {
    for (const candidate of [name, name.startsWith('*.') ? undefined : coveringWildcard(name)]) {
      if (candidate === undefined) continue
      const record = await readCertificateRecord(this.storage, storageName(candidate))
      if (record && Date.parse(record.notAfter) > Date.now()) {
        this.#counters.loadedFromStorage++
        return this.#hold(candidate, record)
      }
    }
    return undefined
  }

  #hold(name: string, record: CertificateRecord): HeldCertificate {
    const held: HeldCertificate = {
      name,
      cert: record.certificate,
      key: record.privateKey,
      serialNumber: record.serialNumber,
      notBefore: new Date(record.notBefore),
      notAfter: new Date(record.notAfter),
    }
    this.#held.set(name, held)
    this.#staleReported.delete(name)
    return held
  }

  #checkStale(held: HeldCertificate): void {
    if (held.notAfter.getTime() > Date.now() || this.#staleReported.has(held.name)) return
    this.#staleReported.add(held.name)
    this.#counters.servedStale++
    this.#emit({
      type: 'served-stale',
      name: held.name,
      serialNumber: held.serialNumber,
      notAfter: held.notAfter,
      expired: true,
    })
  }

  // --- ordering -------------------------------------------------------------------------------------------

  /** Takes the name's storage lease (or waits for the process that holds it) and orders. */
  async #order(name: string): Promise<HeldCertificate> {
    const key = storageName(name)
    const deadline = Date.now() + this.#limits.waitTimeout
    let waited = false
    // While it waits for another process, a storage that fails for a moment (Redis restarting) is asked again, up
    // to the deadline: the holder may well store the certificate. The first attempt's error is thrown at once.
    let storageError: { error: unknown } | undefined
    const whileWaiting = <T>(call: Promise<T>): Promise<T | undefined> =>
      waited
        ? call.then(
            (value) => {
              storageError = undefined
              return value
            },
            (error: unknown) => {
              storageError = { error }
              return undefined
            },
          )
        : call
    for (let delay = 25; ; delay = Math.min(delay * 2, 500)) {
      if (this.#closing.signal.aborted) throw this.#refuse(name, 'closed', {}, false)
      const lease = await whileWaiting(this.#locker.tryLock(key, this.#limits.lockTtl))
      if (lease) {
        this.#leases.add(lease)
        try {
          // The holder before us may have stored it while we waited, or failed: then its failure counts here too,
          // so that N processes do not place N failing orders for one name.
          const stored = await this.#fromStorage(name)
          if (stored) return stored
          const shared = (await this.storage.get(`failures/${key}`).catch(() => undefined)) as
            | { until?: unknown; message?: unknown }
            | undefined
          if (typeof shared?.until === 'number' && shared.until > Date.now()) {
            const error = new CertificateManagerError(
              'ERR_ISSUANCE_FAILED',
              name,
              `${name} failed recently in a process sharing the storage: ${String(shared.message)}`,
            )
            this.#failures.set(name, { until: shared.until, error })
            this.#counters.failed++
            this.#emit({ type: 'failed', name, error, fastFail: true })
            throw error
          }
          return await this.#issueUnderLease(name, lease)
        } finally {
          this.#leases.delete(lease)
          await this.#locker.unlock(lease).catch(() => {})
        }
      }
      if (!waited) {
        waited = true
        this.#counters.waitedForOtherProcess++
      }
      await sleep(delay, this.#closing.signal)
      const stored = await whileWaiting(this.#fromStorage(name))
      if (stored) return stored
      if (Date.now() > deadline) {
        if (storageError) throw storageError.error
        throw new CertificateManagerError(
          'ERR_LOCK_WAIT_TIMEOUT',
          name,
          `another process held the lease of ${name} for over ${this.#limits.waitTimeout} ms without storing a certificate`,
        )
      }
    }
  }

  async #issueUnderLease(name: string, lease: Lease): Promise<HeldCertificate> {
    const abort = new AbortController()
    const onClose = () => abort.abort(this.#closing.signal.reason)
    this.#closing.signal.addEventListener('abort', onClose)
    // Keep the lease while the order runs: renew at a third of its time; a lost lease stops the order.
    const ttl = this.#limits.lockTtl
    const heartbeat = setInterval(() => {
      this.#locker.renew(lease, ttl).then(
        (ok) => {
          if (!ok) abort.abort(new Error(`lost the storage lease of ${name}`))
        },
        () => {},
      )
    }, ttl / 3)
    unref(heartbeat)
    const errors: unknown[] = []
    let unavailable: CaUnavailableError | undefined
    try {
      for (const [index, issuer] of this.#issuers.entries()) {
        // The client's breaker (shared by every client of that CA) says whether the CA answers at all.
        if (issuer.client.breaker?.state === 'open') continue
        const started = Date.now()
        try {
          const certificateKey = await this.#newKey()
          const issued = await issueCertificate({
            client: issuer.client,
            account: issuer.account,
            identifiers: [name],
            solvers: this.#solvers,
            certificateKey,
            signal: abort.signal,
            onEvent: (event) => {
              if (event.type === 'order' && !event.resumed) this.#counters.ordersPlaced++
            },
          })
          const record = await certificateRecord(storageName(name), issued)
          const key = storageKeys.certificate(storageName(name))
          if (!(await fencedPut(this.storage, key, record as unknown as Record<string, unknown>, lease))) {
            // A newer lease holder stored its own: serve that one.
            const theirs = await this.#fromStorage(name)
            if (theirs) return theirs
          }
          const held = this.#hold(name, record)
          this.#failures.delete(name)
          await this.storage.delete(`failures/${storageName(name)}`).catch(() => {})
          this.#counters.issued++
          this.#emit({
            type: 'issued',
            name,
            serialNumber: held.serialNumber,
            notAfter: held.notAfter,
            issuer: index,
            ms: Date.now() - started,
          })
          return held
        } catch (error) {
          if (abort.signal.aborted && this.#closing.signal.aborted) throw error
          if (error instanceof CaUnavailableError) {
            // Its breaker opened (now or during this order): the next CA, as if it had been open before.
            unavailable = error
            continue
          }
          errors.push(error)
          this.#counters.failed++
          this.#emit({ type: 'failed', name, error, issuer: index, fastFail: false })
          if (abort.signal.aborted) break
        }
      }
    } finally {
      clearInterval(heartbeat)
      this.#closing.signal.removeEventListener('abort', onClose)
    }
    if (errors.length === 0) throw this.#circuitOpen(name, unavailable)
    const error = new CertificateManagerError(
      'ERR_ISSUANCE_FAILED',
      name,
      `no CA issued a certificate for ${name}: ${errors.map((e) => (e as Error)?.message ?? String(e)).join('; ')}`,
      { cause: errors.length === 1 ? errors[0] : new AggregateError(errors) },
    )
    const until = Date.now() + this.#limits.failureTtl
    this.#failures.set(name, { until, error })
    // Shared with the processes waiting on this name's lease (best effort: the local memory holds it anyway).
    await this.storage.put(`failures/${storageName(name)}`, { until, message: error.message }).catch(() => {})
    throw error
  }

  #newKey(): Promise<CryptoKeyPair> {
    switch (this.#keyType) {
      case 'ec-p384':
        return generateKeyPair('ES384')
      case 'rsa-2048':
      case 'rsa-3072':
      case 'rsa-4096':
        return generateKeyPair('RS256', {
          modulusLength: Number(this.#keyType.slice(4)) as 2048 | 3072 | 4096,
        })
      default:
        return generateKeyPair('ES256')
    }
  }

  #anyIssuerOpen(): boolean {
    return this.#issuers.some((issuer) => issuer.client.breaker?.state !== 'open')
  }

  #circuitOpen(name: string, cause?: CaUnavailableError): CertificateManagerError {
    const error = new CertificateManagerError(
      'ERR_CIRCUIT_OPEN',
      name,
      `every CA's circuit breaker is open (their requests went unanswered); ${name} is not ordered until one answers a probe`,
      cause ? { cause } : undefined,
    )
    this.#counters.failed++
    this.#emit({ type: 'failed', name, error, fastFail: true })
    return error
  }

  #refuse(
    name: string,
    reason: RefusalReason,
    context: AllowContext,
    cached: boolean,
  ): CertificateManagerError {
    this.#counters.refused++
    this.#emit({ type: 'refused', name, reason, remoteAddress: context.remoteAddress, cached })
    return new CertificateManagerError('ERR_NAME_REFUSED', name, `no certificate for ${name}: ${reason}`, {
      reason,
    })
  }

  // --- renewal --------------------------------------------------------------------------------------------

  #scheduleRenewal(interval: number): void {
    if (this.#closing.signal.aborted) return
    this.#renewTimer = setTimeout(() => {
      this.renewNow()
        .catch(() => {})
        .finally(() => this.#scheduleRenewal(interval))
    }, interval)
    unref(this.#renewTimer)
  }

  /** One renewal pass over every stored certificate: each renewed by whichever process takes its lease. */
  renewNow(): Promise<void> {
    this.#renewing ??= this.#renewPass().finally(() => {
      this.#renewing = undefined
    })
    return this.#renewing
  }

  async #renewPass(): Promise<void> {
    const keys = await this.storage.list('certificates/')
    const renewal = this.#options.renewal ?? {}
    const issuer = this.#issuers[0]!
    for (const key of keys) {
      if (this.#closing.signal.aborted) return
      const segment = key.slice('certificates/'.length)
      const name = segment.startsWith('wildcard_.') ? `*${segment.slice('wildcard_'.length)}` : segment
      // Another process may have renewed it: pick up the stored one.
      const record = await readCertificateRecord(this.storage, segment).catch(() => undefined)
      const held = this.#held.peek(name)
      if (
        record &&
        held &&
        record.serialNumber !== held.serialNumber &&
        Date.parse(record.notAfter) >= held.notAfter.getTime()
      ) {
        const fresh = this.#hold(name, record)
        this.#counters.renewed++
        this.#emit({
          type: 'renewed',
          name,
          serialNumber: fresh.serialNumber,
          notAfter: fresh.notAfter,
          byThisProcess: false,
        })
      }
      const lease = await this.#locker.tryLock(segment, this.#limits.lockTtl).catch(() => undefined)
      if (!lease) continue
      this.#leases.add(lease)
      try {
        const result = await renewDue({
          storage: this.storage,
          names: [segment],
          client: issuer.client,
          solvers: this.#solvers,
          issue: { account: issuer.account },
          newKey: () => this.#newKey(),
          ...(renewal.ari !== undefined && { ari: renewal.ari }),
          lookahead: renewal.lookahead ?? renewal.interval ?? 60 * MINUTE,
          ...(renewal.now && { now: renewal.now }),
          signal: this.#closing.signal,
          onEvent: (event) => {
            if (event.type === 'issue' && event.event.type === 'order' && !event.event.resumed) {
              this.#counters.ordersPlaced++
            }
          },
        })
        for (const renewed of result.renewed) {
          const fresh = this.#hold(name, renewed.certificate)
          this.#counters.renewed++
          this.#emit({
            type: 'renewed',
            name,
            serialNumber: fresh.serialNumber,
            notAfter: fresh.notAfter,
            byThisProcess: true,
          })
        }
        for (const failed of [...result.failed, ...result.rescheduled]) {
          this.#counters.failed++
          this.#emit({ type: 'failed', name, error: failed.error, fastFail: false })
        }
      } finally {
        this.#leases.delete(lease)
        await this.#locker.unlock(lease).catch(() => {})
      }
    }
  }

  // --- events, stats, close -------------------------------------------------------------------------------

  on<T extends CertificateManagerEventType>(
    type: T,
    listener: (event: Extract<CertificateManagerEvent, { type: T }>) => void,
  ): () => void {
    let set = this.#listeners.get(type)
    if (!set) {
      set = new Set()
      this.#listeners.set(type, set)
    }
    const fn = listener as Listener
    set.add(fn)
    return () => set.delete(fn)
  }

  #emit(event: CertificateManagerEvent): void {
    for (const listener of this.#listeners.get(event.type) ?? []) {
      try {
        listener(event)
      } catch {
        // A listener's bug must not break a handshake.
      }
    }
  }

  stats(): CertificateManagerStats {
    return {
      cached: this.#held.size,
      refusalsRemembered: this.#refusals.size,
      failuresRemembered: this.#failures.size,
      inFlight: this.#inFlight.size,
      ...this.#counters,
      breakers: this.#issuers.map(({ client: { breaker } }) => ({
        state: breaker?.state ?? 'closed',
        consecutiveFailures: breaker?.consecutiveFailures ?? 0,
        ...(breaker?.openUntil !== undefined && { openUntil: breaker.openUntil }),
      })),
    }
  }

  async close(): Promise<void> {
    if (this.#renewTimer !== undefined) clearTimeout(this.#renewTimer)
    this.#closing.abort(
      new CertificateManagerError('ERR_NAME_REFUSED', '', 'the certificate manager was closed', {
        reason: 'closed',
      }),
    )
    await Promise.allSettled([...this.#inFlight.values(), this.#renewing])
    await Promise.allSettled([...this.#leases].map((lease) => this.#locker.unlock(lease)))
  }
}

function missing(what: string): InvalidArgumentError {
  return new InvalidArgumentError(`createCertificateManager needs ${what}`)
}

function safeName(name: string): string {
  return typeof name === 'string' ? name.slice(0, 255) : ''
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms)
    function done() {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done)
  })
}

function unref(timer: unknown): void {
  ;(timer as { unref?: () => void }).unref?.()
}
