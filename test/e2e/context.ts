/**
 * What a runtime's runner hands each end-to-end scenario. Everything is reachable over HTTP from any runtime
 * (Pebble, its management API, challtestsrv, the runner's http-01 responder), so the scenarios only need
 * `fetch` and WebCrypto.
 */

/** Pebble configurations the scenarios need; each runner starts one Pebble per profile it runs. */
export type ServerProfile = 'default' | 'counting' | 'reuse' | 'eab' | 'nonce50' | 'chains' | 'paging'

/**
 * What the CA looks like: `pebble` as it is, or `letsencrypt`, Pebble behind the Let's Encrypt-shaped front
 * (test/fixtures/lets-encrypt-ca.ts). Scenarios assert what differs (Let's Encrypt lists no orders).
 */
export type CaShape = 'pebble' | 'letsencrypt'

/** Both, in the order the Node suite runs them. */
export const CA_SHAPES: readonly CaShape[] = ['pebble', 'letsencrypt']

export interface E2EContext {
  /** Which CA shape the scenario runs against. */
  ca: CaShape
  directoryUrl: string
  /** Pebble's management API base URL (`/roots/0`, `/cert-status-by-serial/<hex>`). */
  managementUrl: string
  /** `fetch` that trusts the test CA; scenarios wrap it to count or drop requests. */
  fetch: typeof fetch
  /** Serves http-01 key authorizations where Pebble's VA connects. */
  http01: {
    set(token: string, keyAuthorization: string): Promise<void>
    delete(token: string): Promise<void>
  }
  /** The DNS server Pebble's VA queries (challtestsrv). Values add up: apex and wildcard coexist. */
  dns: {
    addTxt(name: string, value: string): Promise<void>
    clearTxt(name: string): Promise<void>
  }
  /** Pebble's record of an issued certificate (status `valid` or `revoked`). */
  certStatus(serialHex: string): Promise<{ status: string; reason?: number }>
  /** External account binding key for the `eab` profile. */
  eab?: { kid: string; hmacKey: string }
  /** A domain suffix unique to this run, so scenarios never collide. */
  domain: string
  /** Records a measurement (e.g. requests per issuance) for the run's report. */
  report(name: string, value: number | string): void
}

/** One end-to-end scenario. */
export interface Scenario {
  name: string
  server: ServerProfile
  run(ctx: E2EContext): Promise<void>
}

/** Pebble settings per profile (applied by each runner's harness). */
export const SERVER_PROFILES: Record<
  ServerProfile,
  {
    nonceRejectPercent?: number
    authzReusePercent?: number
    alternateRoots?: number
    chainLength?: number
    ordersPerPage?: number
    eab?: boolean
  }
> = {
  default: {},
  counting: { nonceRejectPercent: 0, authzReusePercent: 0 },
  reuse: { authzReusePercent: 100 },
  eab: { eab: true },
  nonce50: { nonceRejectPercent: 50 },
  chains: { alternateRoots: 2, chainLength: 3 },
  paging: { ordersPerPage: 2 },
}
