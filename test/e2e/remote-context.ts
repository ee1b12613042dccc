/**
 * Builds an {@link E2EContext} from the plain-data {@link ServerInfo} that the Node-side runner hands a
 * runtime (Deno, Bun, workerd, Chromium), using only `fetch`: challtestsrv's management API for dns-01, and
 * Pebble's management API for certificate status. The runtime brings its own http-01 responder.
 */
import type { E2EContext } from './context.ts'
import type { ServerInfo } from './servers.ts'

export interface RemoteContextOptions {
  /** The runtime's http-01 responder on `info.httpPort` (or a runner-side one where the runtime cannot listen). */
  http01: E2EContext['http01']
  /** Domain suffix unique to this run. */
  domain: string
  /** `fetch` that trusts the test CA (default: the global one). */
  fetch?: typeof fetch
  report?: E2EContext['report']
}

/** `host` with exactly one trailing dot, as challtestsrv keys its records. */
function fqdn(host: string): string {
  return host.endsWith('.') ? host : `${host}.`
}

/** Serial as Pebble's management API spells it: lower-case hex, no `0x`, colons or leading zeros. */
export function normaliseSerial(serialHex: string): string {
  const hex = serialHex.trim().replace(/^0x/i, '').replace(/[:\s]/g, '').toLowerCase()
  if (!/^[0-9a-f]+$/.test(hex)) throw new TypeError(`not a hex serial: ${serialHex}`)
  return hex.replace(/^0+(?=.)/, '')
}

export function remoteContext(info: ServerInfo, options: RemoteContextOptions): E2EContext {
  const doFetch = options.fetch ?? ((input, init) => fetch(input, init))
  const challtest = info.challtestUrl.replace(/\/+$/, '')

  async function challtestPost(path: string, body: Record<string, unknown>): Promise<void> {
    const res = await doFetch(`${challtest}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    const text = await res.text()
    if (!res.ok) throw new Error(`challtestsrv ${path} answered ${res.status}: ${text.trim()}`)
  }

  async function certStatus(serialHex: string): Promise<{ status: string; reason?: number }> {
    const serial = normaliseSerial(serialHex)
    const url = `${info.managementUrl.replace(/\/+$/, '')}/cert-status-by-serial/${serial}`
    const res = await doFetch(url)
    const text = await res.text()
    if (res.status === 404) return { status: 'unknown' }
    if (!res.ok) throw new Error(`GET ${url} answered ${res.status}: ${text.trim()}`)
    // Pebble answers with Go field names (Status, Reason, ...).
    const raw = JSON.parse(text) as Record<string, unknown>
    const lower = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k.toLowerCase(), v]))
    const status = typeof lower.status === 'string' ? lower.status.toLowerCase() : 'unknown'
    return typeof lower.reason === 'number' ? { status, reason: lower.reason } : { status }
  }

  return {
    ca: info.ca,
    directoryUrl: info.directoryUrl,
    managementUrl: info.managementUrl,
    fetch: doFetch,
    http01: options.http01,
    dns: {
      addTxt: (name, value) => challtestPost('/set-txt', { host: fqdn(name), value }),
      clearTxt: (name) => challtestPost('/clear-txt', { host: fqdn(name) }),
    },
    certStatus,
    ...(info.eab && { eab: info.eab }),
    domain: options.domain,
    report: options.report ?? (() => {}),
  }
}
