/**
 * Node-side starter of the servers one scenario profile needs (Pebble, challtestsrv, later PowerDNS ...).
 * Every runtime's runner uses it: the Node runner in-process, the others (Deno, Bun, workerd, Chromium)
 * through the plain-data {@link ServerInfo} handed to the runtime.
 */
import { startLetsEncryptCa } from '../fixtures/lets-encrypt-ca.ts'
import { type Pebble, type PebbleOptions, startPebble } from '../harness/pebble.ts'
import { type CaShape, SERVER_PROFILES, type ServerProfile } from './context.ts'

/** EAB credentials of the `eab` profile. */
export const EAB = {
  kid: 'kid-webacme',
  hmacKey: 'zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W',
}

/** Everything a runtime needs to reach the servers of a profile: plain data, JSON-serialisable. */
export interface ServerInfo {
  profile: ServerProfile
  /** What the CA looks like to the client: Pebble itself, or Pebble behind the Let's Encrypt-shaped front. */
  ca: CaShape
  directoryUrl: string
  managementUrl: string
  /** challtestsrv management API (plain HTTP), for dns-01 TXT records. */
  challtestUrl: string
  /** Port Pebble's VA dials for http-01: the runtime (or its runner) must serve there. */
  httpPort: number
  /** Port Pebble's VA dials for tls-alpn-01. */
  tlsPort: number
  /** PEM of the CA that signed Pebble's TLS listeners (the runtime must trust it). */
  caPem: string
  caCertPath: string
  eab?: { kid: string; hmacKey: string }
  /** Extra, profile-specific data (e.g. a DNS provider's API URL and key). */
  extra: Record<string, string>
}

export interface RunningServers {
  info: ServerInfo
  pebble: Pebble
  stop(): Promise<void>
}

/**
 * Starts the servers of `profile`. `http01: 'self'` leaves Pebble's http-01 port to the runner. With `ca:
 * 'letsencrypt'` the client talks to Pebble through test/fixtures/lets-encrypt-ca.ts (Boulder's directory, headers,
 * nonces and Retry-After; ARI and profiles), with a 1-second processing Retry-After instead of Boulder's 3.
 */
export async function startServers(
  profile: ServerProfile,
  overrides: PebbleOptions = {},
  ca: CaShape = 'pebble',
): Promise<RunningServers> {
  const settings = SERVER_PROFILES[profile]
  const pebble = await startPebble({
    http01: 'self',
    ...(settings.nonceRejectPercent !== undefined && { nonceRejectPercent: settings.nonceRejectPercent }),
    ...(settings.authzReusePercent !== undefined && { authzReusePercent: settings.authzReusePercent }),
    ...(settings.alternateRoots !== undefined && { alternateRoots: settings.alternateRoots }),
    ...(settings.chainLength !== undefined && { chainLength: settings.chainLength }),
    ...(settings.ordersPerPage !== undefined && { ordersPerPage: settings.ordersPerPage }),
    ...(settings.eab && { externalAccountMacKeys: { [EAB.kid]: EAB.hmacKey } }),
    ...overrides,
  })
  const challtestUrl = pebble.challtest?.url ?? ''
  const front =
    ca === 'letsencrypt'
      ? await startLetsEncryptCa({ pebble, processingRetryAfter: 1 }).catch(async (err: unknown) => {
          await pebble.stop()
          throw err
        })
      : undefined
  return {
    pebble,
    info: {
      profile,
      ca,
      directoryUrl: front?.directoryUrl ?? pebble.directoryUrl,
      managementUrl: pebble.managementUrl,
      challtestUrl,
      httpPort: pebble.httpPort,
      tlsPort: pebble.tlsPort,
      caPem: pebble.caPem,
      caCertPath: pebble.caCertPath,
      ...(settings.eab && { eab: EAB }),
      extra: {},
    },
    stop: async () => {
      await front?.close()
      await pebble.stop()
    },
  }
}
