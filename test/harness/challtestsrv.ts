// Typed client of pebble-challtestsrv's management API (plain HTTP, JSON POST bodies).
// Mock DNS host names are FQDNs with a trailing dot ("_acme-challenge.example.test."); the helpers
// below add the dot when it is missing.

export interface CaaPolicy {
  tag: 'issue' | 'issuewild' | 'iodef' | (string & {})
  value: string
}

/** One request that challtestsrv saw, as its `*-request-history` endpoints report it. */
export interface ChallRequestEvent {
  readonly [key: string]: unknown
}

export interface ChallTestSrv {
  /** Base URL of the management API, e.g. `http://127.0.0.1:8055`. */
  readonly url: string
  /**
   * Adds a TXT value for `host` (values accumulate until {@link clearTxt}, so an apex and a wildcard
   * authorization can both be answered); dns-01 answers live at `_acme-challenge.<domain>.`.
   */
  setTxt(host: string, value: string): Promise<void>
  clearTxt(host: string): Promise<void>
  /**
   * Serves `content` at `/.well-known/acme-challenge/<token>` on the http-01 port. Unknown tokens get
   * 200 with an empty body, not 404.
   */
  addHttp01(token: string, content: string): Promise<void>
  delHttp01(token: string): Promise<void>
  /** Redirects `path` on the http-01 port to `targetUrl`. */
  addRedirect(path: string, targetUrl: string): Promise<void>
  delRedirect(path: string): Promise<void>
  addA(host: string, addresses: readonly string[]): Promise<void>
  clearA(host: string): Promise<void>
  addAaaa(host: string, addresses: readonly string[]): Promise<void>
  clearAaaa(host: string): Promise<void>
  addCaa(host: string, policies: readonly CaaPolicy[]): Promise<void>
  clearCaa(host: string): Promise<void>
  /** Answers queries for `host` as if it were a CNAME to `target` (records of `target` are returned). */
  setCname(host: string, target: string): Promise<void>
  clearCname(host: string): Promise<void>
  /** Every query for `host` gets SERVFAIL, overriding other mocks. */
  setServfail(host: string): Promise<void>
  clearServfail(host: string): Promise<void>
  /** Default A answer for names without a mock ("" disables it). Starts as 127.0.0.1. */
  setDefaultIpv4(ip: string): Promise<void>
  /** Default AAAA answer ("" disables it). The harness starts challtestsrv with none. */
  setDefaultIpv6(ip: string): Promise<void>
  /** Serves `content` as the TLS-ALPN-01 certificate for `host` (only when its tlsalpn01 port is on). */
  addTlsAlpn01(host: string, content: string): Promise<void>
  delTlsAlpn01(host: string): Promise<void>
  /** HTTP requests challtestsrv served for `host` (the Host header without port, e.g. `127.0.0.1`). */
  httpRequestHistory(host: string): Promise<ChallRequestEvent[]>
  /** DNS queries challtestsrv answered for `host` (a trailing dot is ignored). */
  dnsRequestHistory(host: string): Promise<ChallRequestEvent[]>
  clearRequestHistory(host: string, type: 'http' | 'dns' | 'tlsalpn'): Promise<void>
}

/** `host` with exactly one trailing dot. */
export function fqdn(host: string): string {
  return host.endsWith('.') ? host : `${host}.`
}

export class ChallTestSrvError extends Error {
  readonly status: number
  readonly path: string
  constructor(path: string, status: number, body: string) {
    super(`challtestsrv ${path} answered ${status}${body ? `: ${body.trim()}` : ''}`)
    this.name = 'ChallTestSrvError'
    this.status = status
    this.path = path
  }
}

/** A client of the management API at `url` (e.g. `http://127.0.0.1:8055`). */
export function challTestSrvClient(url: string): ChallTestSrv {
  const base = url.replace(/\/+$/, '')

  async function post(path: string, body: Record<string, unknown>): Promise<Response> {
    const res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    if (!res.ok) throw new ChallTestSrvError(path, res.status, await res.text())
    return res
  }
  async function call(path: string, body: Record<string, unknown>): Promise<void> {
    await (await post(path, body)).arrayBuffer()
  }
  async function history(path: string, host: string): Promise<ChallRequestEvent[]> {
    const value: unknown = await (await post(path, { host })).json()
    return Array.isArray(value) ? (value as ChallRequestEvent[]) : []
  }

  return {
    url: base,
    setTxt: (host, value) => call('/set-txt', { host: fqdn(host), value }),
    clearTxt: (host) => call('/clear-txt', { host: fqdn(host) }),
    addHttp01: (token, content) => call('/add-http01', { token, content }),
    delHttp01: (token) => call('/del-http01', { token }),
    addRedirect: (path, targetUrl) => call('/add-redirect', { path, targetURL: targetUrl }),
    delRedirect: (path) => call('/del-redirect', { path }),
    addA: (host, addresses) => call('/add-a', { host: fqdn(host), addresses }),
    clearA: (host) => call('/clear-a', { host: fqdn(host) }),
    addAaaa: (host, addresses) => call('/add-aaaa', { host: fqdn(host), addresses }),
    clearAaaa: (host) => call('/clear-aaaa', { host: fqdn(host) }),
    addCaa: (host, policies) => call('/add-caa', { host: fqdn(host), policies }),
    clearCaa: (host) => call('/clear-caa', { host: fqdn(host) }),
    setCname: (host, target) => call('/set-cname', { host: fqdn(host), target: fqdn(target) }),
    clearCname: (host) => call('/clear-cname', { host: fqdn(host) }),
    setServfail: (host) => call('/set-servfail', { host: fqdn(host) }),
    clearServfail: (host) => call('/clear-servfail', { host: fqdn(host) }),
    setDefaultIpv4: (ip) => call('/set-default-ipv4', { ip }),
    setDefaultIpv6: (ip) => call('/set-default-ipv6', { ip }),
    addTlsAlpn01: (host, content) => call('/add-tlsalpn01', { host, content }),
    delTlsAlpn01: (host) => call('/del-tlsalpn01', { host }),
    httpRequestHistory: (host) => history('/http-request-history', host),
    // Request history is keyed by name without the trailing dot (and, for HTTP, without the port).
    dnsRequestHistory: (host) => history('/dns-request-history', host.replace(/\.$/, '')),
    clearRequestHistory: (host, type) =>
      call('/clear-request-history', { host: host.replace(/\.$/, ''), type }),
  }
}
