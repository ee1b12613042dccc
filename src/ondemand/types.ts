/**
 * The shape of the on-demand certificate manager (`webacme/tls`): its options, its events and its statistics.
 * Web-only types (no `node:*`); the `node:tls` glue is in `src/tls/`.
 *
 * @module
 */

import type { ChallengeSolver } from '../challenges/solver.ts'
import type { AcmeClient, NewAccountOptions } from '../client.ts'
import type { DnsAdapter } from '../dns/adapter.ts'
import type { Instant } from '../renewal/schedule.ts'
import type { Storage } from '../storage/storage.ts'
import type { RefusalReason } from './errors.ts'

/** What `allow` is told about the request that asks for a name. */
export interface AllowContext {
  /** The client's address (the TLS or HTTP peer), when known. */
  remoteAddress?: string | undefined
}

/**
 * Which names may get a certificate: a function (may be async: ask a database or an HTTP endpoint, like Caddy's
 * `ask`), or a list of exact names and `*.` patterns (`*.example.com` allows `a.example.com`, not
 * `example.com` nor `a.b.example.com`). Required: there is no allow-everything default.
 */
export type AllowPolicy =
  | ((name: string, context: AllowContext) => boolean | Promise<boolean>)
  | readonly string[]

/** Key type of the certificates (default `ec-p256`). */
export type CertificateKeyType = 'ec-p256' | 'ec-p384' | 'rsa-2048' | 'rsa-3072' | 'rsa-4096'

/** A CA to issue from: a client and how to create its account. */
export interface Issuer {
  client: AcmeClient
  /** How to create the account when the client has none; `termsOfServiceAgreed: true` is required. */
  account: Omit<NewAccountOptions, 'signal'>
}

/** How challenges are answered. */
export interface ChallengeOptions {
  /**
   * tls-alpn-01 (RFC 8737) on the manager's own TLS listener (default true). Needs the listener from
   * `manager.listener(server)` (Node, Bun) on port 443, because the certificate for `acme-tls/1` must be chosen
   * before Node's `ALPNCallback` runs.
   */
  tlsAlpn01?: boolean
  /** http-01 (RFC 8555 §8.3) through `httpHandler` / `fetchHandler` on port 80 (default true). */
  http01?: boolean
  /** dns-01 (RFC 8555 §8.4) through a DNS adapter or a ready solver: needed for wildcards (issued by `ensure`). */
  dns01?: DnsAdapter | ChallengeSolver
}

/** Background renewal (the library's rules: ARI where the CA offers it, else the lifetime rule). */
export interface RenewalOptions {
  /** Use ARI where the CA offers it (default true). */
  ari?: boolean
  /** Milliseconds between renewal checks (default 1 hour; at least 1 second). */
  interval?: number
  /** Renew what falls due within this many milliseconds (default: `interval`). */
  lookahead?: number
  /** The clock for renewal decisions (default `Date.now`). */
  now?: () => Instant
}

/**
 * Limits against a flood of names and names that fail. A CA that is down is its client's business: the client's
 * circuit breaker (`AcmeClientOptions.breaker`) stops orders to it, and the manager moves on to the next issuer.
 */
export interface LimitOptions {
  /** New issuances started per minute, all clients together (default 60). */
  issuancesPerMinute?: number
  /** New issuances started per minute for one client address (default 10). */
  issuancesPerMinutePerClient?: number
  /** Milliseconds a refused name stays refused without asking `allow` again (default 10 minutes). */
  refusalTtl?: number
  /** Milliseconds a name whose issuance failed fails at once before it is tried again (default 5 minutes). */
  failureTtl?: number
  /** Certificates kept in memory (default 10 000; the least recently used leave memory, not the storage). */
  maxCertificates?: number
  /** Refusals and failures remembered (default 10 000 each; the least recently seen are forgotten). */
  maxRemembered?: number
  /** Client addresses tracked for the per-client limit (default 10 000). */
  maxClients?: number
  /**
   * Milliseconds a handshake waits for an issuance in another process before giving up (default 180 s). Storage
   * errors while it waits (a Redis restarting) are retried until then; the last one is thrown at the deadline.
   */
  waitTimeout?: number
  /** Lease duration (ms) of the storage lock an issuance holds; renewed at a third of it (default 30 s). */
  lockTtl?: number
}

/** Options of `createCertificateManager`. */
export interface CertificateManagerOptions {
  /** The client of the main CA. Its account is created with `account` when it has none. */
  client: AcmeClient
  /** How to create the account: `termsOfServiceAgreed: true` is required. */
  account: Omit<NewAccountOptions, 'signal'>
  /**
   * Where certificates, keys, challenge answers and leases live. Processes sharing it share certificates and
   * order each name once. Needs `compareAndSwap` or its own lock (`tryLock`/`renew`/`unlock`).
   */
  storage: Storage
  /** Which names may get a certificate. Required. */
  allow: AllowPolicy
  keyType?: CertificateKeyType
  renewal?: RenewalOptions
  challenges?: ChallengeOptions
  /**
   * More CAs, tried in order when the ones before cannot issue (they failed, or their client's circuit breaker is
   * open: see `AcmeClientOptions.breaker`, which clients of one CA should share).
   */
  issuers?: Issuer[]
  limits?: LimitOptions
  /** Every event, as it happens (also available through `manager.on`). */
  onEvent?: (event: CertificateManagerEvent) => void
}

/** Why a name was refused (declared with the manager's error, which carries it). */
export type { RefusalReason }

/** Events of the manager. `name` is the certificate's name (lower case, as stored). */
export type CertificateManagerEvent =
  | { type: 'issued'; name: string; serialNumber: string; notAfter: Date; issuer: number; ms: number }
  | { type: 'renewed'; name: string; serialNumber: string; notAfter: Date; byThisProcess: boolean }
  | {
      type: 'refused'
      name: string
      reason: RefusalReason
      remoteAddress?: string | undefined
      cached: boolean
    }
  | { type: 'failed'; name: string; error: unknown; issuer?: number; fastFail: boolean }
  | { type: 'served-stale'; name: string; serialNumber: string; notAfter: Date; expired: boolean }

/** The event types. */
export type CertificateManagerEventType = CertificateManagerEvent['type']

/** A snapshot of the manager's counters and state. */
export interface CertificateManagerStats {
  /** Certificates held in memory. */
  cached: number
  /** Refused names remembered. */
  refusalsRemembered: number
  /** Failed names remembered. */
  failuresRemembered: number
  /** Issuances running in this process. */
  inFlight: number
  /** Orders this process placed with a CA. */
  ordersPlaced: number
  issued: number
  renewed: number
  refused: number
  failed: number
  servedStale: number
  /** Certificates loaded from the storage (no CA request). */
  loadedFromStorage: number
  /** Handshakes served from memory. */
  servedFromMemory: number
  /** tls-alpn-01 validations (`acme-tls/1` handshakes) this process answered from the storage. */
  tlsAlpn01Answered: number
  /** http-01 requests this process answered from the storage. */
  http01Answered: number
  /** Waits for an issuance by another process (the storage lease was held elsewhere). */
  waitedForOtherProcess: number
  /** One per issuer, in order: its client's circuit breaker (`client.breaker`). */
  breakers: Array<{ state: 'closed' | 'open' | 'half-open'; consecutiveFailures: number; openUntil?: Date }>
}

/** A certificate chain and its key, PEM. */
export interface CertificatePems {
  /** PEM chain, end-entity certificate first. */
  cert: string
  /** PKCS#8 PEM private key. */
  key: string
  /** Serial number, lower-case hex. */
  serialNumber: string
  notAfter: Date
}
