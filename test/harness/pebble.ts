// Starts Pebble (the ACME test CA) and pebble-challtestsrv (mock DNS + http-01 responder) on free
// ports of 127.0.0.1, for one test file or one scenario. Both are killed by stop(), and when the
// process exits or gets SIGINT/SIGTERM/SIGHUP (vitest stops its workers with SIGTERM).

import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { request } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { getTestCa, removeProcessCaSync, type TestCa } from './ca.ts'
import { type ChallTestSrv, challTestSrvClient } from './challtestsrv.ts'
import { childRegistry } from './children.ts'
import { OutputTail } from './output-tail.ts'
import { freePorts, listenerOwnedBy } from './ports.ts'
import { systemBinary } from './system.ts'

export interface PebbleOptions {
  /** PEBBLE_WFE_NONCEREJECT: percentage of valid nonces rejected with badNonce (Pebble's default: 5). */
  nonceRejectPercent?: number
  /** PEBBLE_AUTHZREUSE: percentage of orders that reuse a valid authorization (Pebble's default: 50). */
  authzReusePercent?: number
  /** PEBBLE_ALTERNATE_ROOTS: number of extra root hierarchies (alternate chains). */
  alternateRoots?: number
  /** PEBBLE_CHAIN_LENGTH: certificates in the chain, leaf and root included. */
  chainLength?: number
  /** PEBBLE_WFE_ORDERS_PER_PAGE (Pebble's default: 3). */
  ordersPerPage?: number
  /** External account binding keys (kid -> base64url HMAC key); makes EAB required. */
  externalAccountMacKeys?: Record<string, string>
  /** Pass `-strict` (upcoming API breaking changes). */
  strict?: boolean
  /** Lifetime of the certificates Pebble issues, in seconds (config `certificateValidityPeriod`; Pebble's default: 5 years). */
  certificateValidityPeriod?: number
  /**
   * Who answers http-01: challtestsrv (default; use `challtest.addHttp01`) or the test itself
   * (`'self'`: `httpPort` is left free, e.g. for {@link startHttp01Server}).
   */
  http01?: 'challtestsrv' | 'self'
  /** Port Pebble's VA connects to for http-01 (default: a free port). */
  httpPort?: number
  /** Port Pebble's VA connects to for tls-alpn-01 (default: a free port, left free for the test). */
  tlsPort?: number
  /** DNS server (host:port) Pebble resolves with (default: challtestsrv's; none: the system's). */
  dnsServer?: string
  /** Start pebble-challtestsrv (default true). */
  challtestsrv?: boolean
  /** Extra environment for the Pebble process. */
  env?: Record<string, string>
  /** How long to wait for both servers to answer, per attempt (default 15 s). */
  startTimeoutMs?: number
  /** Called with each chunk of whole lines Pebble and challtestsrv print (`npm run service -- --verbose`). */
  onOutput?: (text: string) => void
}

export interface CertStatus {
  /** `valid`, `revoked` (lower-cased from Pebble's `Valid` / `Revoked`), or `unknown` when Pebble has no such serial. */
  status: 'valid' | 'revoked' | 'unknown' | (string & {})
  /** Serial as Pebble spells it: lower-case hex without leading zeros. */
  serial: string
  /** The certificate, PEM. */
  certificate?: string
  /** CRL reason code (RFC 5280 §5.3.1), when revoked. */
  reason?: number
  /** RFC 3339 time of revocation, when revoked. */
  revokedAt?: string
}

export interface Pebble {
  /** ACME directory URL: `https://127.0.0.1:PORT/dir`. */
  readonly directoryUrl: string
  /** Pebble's management interface: `https://127.0.0.1:PORT`. */
  readonly managementUrl: string
  /** Port Pebble's VA dials for http-01 (served by challtestsrv unless `http01: 'self'`). */
  readonly httpPort: number
  /** Port Pebble's VA dials for tls-alpn-01 (nothing listens there: the test's own responder may). */
  readonly tlsPort: number
  /** challtestsrv's DNS port (UDP and TCP), or undefined when challtestsrv is off. */
  readonly dnsPort: number | undefined
  /** PEM of the CA that signed Pebble's TLS listeners (not Pebble's issuing root: see `roots`). */
  readonly caPem: string
  /** The same CA as a file, for NODE_EXTRA_CA_CERTS, `deno --cert` and the like. */
  readonly caCertPath: string
  /** Client of challtestsrv's management API, or undefined when it is off. */
  readonly challtest: ChallTestSrv | undefined
  /** Base URL of challtestsrv's management API (plain HTTP), for clients in other runtimes; undefined when it is off. */
  readonly challtestUrl: string | undefined
  readonly pid: number
  readonly challtestPid: number | undefined
  /** PEM of Pebble's issuing root `i` (0 = default chain; 1.. = `alternateRoots`). */
  roots(i?: number): Promise<string>
  /** PEM of the intermediate under root `i`. */
  intermediates(i?: number): Promise<string>
  /** Pebble's record of a certificate it issued, by serial (hex; `0x`, colons, case and leading zeros ignored). */
  certStatus(serialHex: string): Promise<CertStatus>
  /** Output of Pebble (and challtestsrv) so far, for failure messages. */
  logs(): string
  /** Kills both processes, waits for them to exit and removes the temp dir. Idempotent. */
  stop(): Promise<void>
}

const HOST = '127.0.0.1'
const ATTEMPTS = 3
const LOG_LIMIT = 256 * 1024

// Child process bookkeeping (test/harness/children.ts); a signal also takes the test CA out of this process.
const registry = () => childRegistry('children', removeProcessCaSync)

function launch(cmd: string, args: string[], env: NodeJS.ProcessEnv, out: OutputTail, prefix: string) {
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
  const { children } = registry()
  children.add(child)
  // Whole lines only, so the output of the two processes does not interleave mid-line.
  const partial = { stdout: '', stderr: '' }
  for (const stream of ['stdout', 'stderr'] as const) {
    child[stream]?.setEncoding('utf8')
    child[stream]?.on('data', (chunk: string) => {
      const lines = (partial[stream] + chunk).split('\n')
      partial[stream] = lines.pop() ?? ''
      if (lines.length > 0) out.append(lines.map((line) => `${prefix}${line}\n`).join(''))
    })
  }
  // Keep a failed spawn (ENOENT) from becoming an uncaught 'error' event; exitCode stays null.
  child.once('error', (err) => out.append(`${prefix}spawn ${cmd} failed: ${err.message}\n`))
  child.once('close', () => {
    for (const rest of [partial.stdout, partial.stderr]) if (rest) out.append(`${prefix}${rest}\n`)
  })
  child.once('exit', () => children.delete(child))
  return child
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null || child.pid === undefined
}

async function terminate(child: ChildProcess | undefined): Promise<void> {
  if (!child || hasExited(child)) {
    if (child) registry().children.delete(child)
    return
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
  await exited
  clearTimeout(timer)
  registry().children.delete(child)
}

// ---------------------------------------------------------------------------------------------
// HTTPS to Pebble with the test CA given explicitly: the harness works in any process, whether or
// not NODE_EXTRA_CA_CERTS points at the CA. Still real verification: only that CA is trusted.

interface HttpsResult {
  status: number
  body: string
}

function httpsGet(url: string, ca: string, timeoutMs = 5000): Promise<HttpsResult> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', ca, agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      )
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)))
    req.on('error', reject)
    req.end()
  })
}

async function httpGetStatus(url: string): Promise<number> {
  const res = await fetch(url, { signal: AbortSignal.timeout(1000) })
  await res.arrayBuffer()
  return res.status
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

// ---------------------------------------------------------------------------------------------

interface Attempt {
  pebble: ChildProcess
  challtest: ChildProcess | undefined
  ports: { listen: number; management: number; http: number; tls: number; dns?: number; challMgmt?: number }
}

class StartError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message)
  }
}

function pebbleEnv(options: PebbleOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  // Knobs come only from the options, never from whatever the caller's environment carries.
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PEBBLE_')) env[k] = v
  env.PEBBLE_VA_NOSLEEP = '1'
  const knobs: [keyof PebbleOptions, string][] = [
    ['nonceRejectPercent', 'PEBBLE_WFE_NONCEREJECT'],
    ['authzReusePercent', 'PEBBLE_AUTHZREUSE'],
    ['alternateRoots', 'PEBBLE_ALTERNATE_ROOTS'],
    ['chainLength', 'PEBBLE_CHAIN_LENGTH'],
    ['ordersPerPage', 'PEBBLE_WFE_ORDERS_PER_PAGE'],
  ]
  for (const [option, name] of knobs) {
    const value = options[option]
    if (value !== undefined) env[name] = String(value)
  }
  return { ...env, ...options.env }
}

async function startAttempt(
  options: PebbleOptions,
  ca: TestCa,
  dir: string,
  out: OutputTail,
): Promise<Attempt> {
  const withChall = options.challtestsrv !== false
  const selfHttp = options.http01 === 'self'
  const [listen, management, http, tls, dns, challMgmt] = await freePorts(withChall ? 6 : 4)
  const ports: Attempt['ports'] = {
    listen: listen!,
    management: management!,
    http: options.httpPort ?? http!,
    tls: options.tlsPort ?? tls!,
    ...(withChall ? { dns: dns!, challMgmt: challMgmt! } : {}),
  }

  const config: { pebble: Record<string, unknown> } = {
    pebble: {
      listenAddress: `${HOST}:${ports.listen}`,
      managementListenAddress: `${HOST}:${ports.management}`,
      certificate: ca.certPath,
      privateKey: ca.keyPath,
      httpPort: ports.http,
      tlsPort: ports.tls,
      ocspResponderURL: '',
      externalAccountBindingRequired: options.externalAccountMacKeys !== undefined,
    },
  }
  if (options.externalAccountMacKeys) config.pebble.externalAccountMACKeys = options.externalAccountMacKeys
  if (options.certificateValidityPeriod !== undefined) {
    config.pebble.certificateValidityPeriod = options.certificateValidityPeriod
  }
  const configPath = join(dir, 'pebble-config.json')
  await writeFile(configPath, `${JSON.stringify(config, null, 2)}\n`)

  let challtest: ChildProcess | undefined
  if (withChall) {
    challtest = launch(
      systemBinary('pebble-challtestsrv'),
      [
        // Without this it answers AAAA ::1 and Pebble dials [::1], where nothing listens.
        '-defaultIPv6',
        '',
        '-dns01',
        `${HOST}:${ports.dns}`,
        '-http01',
        selfHttp ? '' : `${HOST}:${ports.http}`,
        '-tlsalpn01',
        '',
        '-https01',
        '',
        '-management',
        `${HOST}:${ports.challMgmt}`,
      ],
      process.env,
      out,
      '[challtestsrv] ',
    )
  }

  const args = ['-config', configPath]
  const dnsServer = options.dnsServer ?? (withChall ? `${HOST}:${ports.dns}` : undefined)
  if (dnsServer) args.push('-dnsserver', dnsServer)
  if (options.strict) args.push('-strict')
  const pebble = launch(systemBinary('pebble'), args, pebbleEnv(options), out, '')
  return { pebble, challtest, ports }
}

/** Throws a StartError when a process failed to spawn, exited, or could not bind a port. */
function checkProcesses(a: Attempt, out: OutputTail, options: PebbleOptions): void {
  for (const child of [a.pebble, a.challtest]) {
    if (!child) continue
    if (child.pid === undefined) {
      throw new StartError(
        `could not run ${child.spawnfile}: install it with \`node scripts/setup.mjs pebble\``,
        false,
      )
    }
    if (hasExited(child)) {
      // Most likely a port was taken between choosing it and binding it: retry with new ports.
      throw new StartError(
        `${child.spawnfile} exited (${child.exitCode ?? child.signalCode}) while starting`,
        true,
      )
    }
  }
  // challtestsrv keeps running when one of its listeners cannot bind; it only logs the error.
  const inUse = /listen (?:tcp|udp)\S* \S*:(\d+): bind: address already in use/.exec(out.toString())
  if (inUse) {
    const port = Number(inUse[1])
    const fixed = port === options.httpPort || port === options.tlsPort
    throw new StartError(`port ${port} is already in use${fixed ? ' (given in the options)' : ''}`, !fixed)
  }
}

/** Resolves when both servers answer on their ports and own them; throws StartError otherwise. */
async function waitReady(a: Attempt, ca: TestCa, out: OutputTail, options: PebbleOptions): Promise<void> {
  const deadline = Date.now() + (options.startTimeoutMs ?? 15_000)
  const directoryUrl = `https://${HOST}:${a.ports.listen}/dir`
  const owned: [ChildProcess, number, string][] = [
    [a.pebble, a.ports.listen, 'ACME'],
    [a.pebble, a.ports.management, 'management'],
  ]
  if (a.challtest) {
    owned.push([a.challtest, a.ports.challMgmt!, 'challtestsrv management'])
    owned.push([a.challtest, a.ports.dns!, 'challtestsrv DNS'])
    if (options.http01 !== 'self') owned.push([a.challtest, a.ports.http, 'challtestsrv http-01'])
  }
  let directoryOk = false
  let challtestOk = a.challtest === undefined
  let ownerUnknown = false
  let lastError = 'no answer yet'
  while (Date.now() < deadline) {
    checkProcesses(a, out, options)
    try {
      if (!directoryOk) {
        const dir = await httpsGet(directoryUrl, ca.caPem, 2000)
        if (dir.status !== 200) throw new Error(`GET ${directoryUrl} answered ${dir.status}`)
        directoryOk = true
      }
      if (!challtestOk) {
        await httpGetStatus(`http://${HOST}:${a.ports.challMgmt}/`)
        challtestOk = true
      }
      // Something answers; make sure it is OUR processes and not a stranger on a reused port.
      while (owned.length > 0) {
        const [child, port, what] = owned[0]!
        const mine = await listenerOwnedBy(child.pid!, port)
        if (mine === false) throw new Error(`${what} port ${port} is not (yet) held by pid ${child.pid}`)
        if (mine === undefined) ownerUnknown = true
        owned.shift()
      }
      if (ownerUnknown) {
        // No /proc here: a process that lost a port race dies or logs at once, so look again shortly.
        await sleep(300)
        checkProcesses(a, out, options)
      }
      return
    } catch (err) {
      if (err instanceof StartError) throw err
      lastError = err instanceof Error ? err.message : String(err)
    }
    await sleep(100)
  }
  throw new StartError(`not ready within ${options.startTimeoutMs ?? 15_000} ms: ${lastError}`, false)
}

function normaliseSerial(serialHex: string): string {
  const hex = serialHex.trim().replace(/^0x/i, '').replace(/[:\s]/g, '').toLowerCase()
  if (!/^[0-9a-f]+$/.test(hex)) throw new TypeError(`not a hex serial: ${serialHex}`)
  return hex.replace(/^0+(?=.)/, '')
}

function parseCertStatus(serial: string, raw: unknown): CertStatus {
  if (typeof raw !== 'object' || raw === null) throw new Error(`cert-status: unexpected body ${String(raw)}`)
  // Pebble answers with Go field names (Status, Serial, Certificate, Reason, RevokedAt).
  const lower = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k.toLowerCase(), v]))
  const result: CertStatus = {
    status: typeof lower.status === 'string' ? lower.status.toLowerCase() : 'unknown',
    serial: typeof lower.serial === 'string' ? lower.serial.toLowerCase() : serial,
  }
  if (typeof lower.certificate === 'string') result.certificate = lower.certificate
  if (typeof lower.reason === 'number') result.reason = lower.reason
  if (typeof lower.revokedat === 'string' && !lower.revokedat.startsWith('0001-'))
    result.revokedAt = lower.revokedat
  return result
}

/** Starts Pebble (and pebble-challtestsrv unless `challtestsrv: false`). Call `stop()` when done. */
export async function startPebble(options: PebbleOptions = {}): Promise<Pebble> {
  const ca = await getTestCa()
  const dir = await mkdtemp(join(tmpdir(), 'webacme-pebble-'))
  registry().dirs.add(dir)
  const failures: string[] = []
  let attempt: Attempt | undefined
  let out = new OutputTail(LOG_LIMIT)

  for (let i = 1; i <= ATTEMPTS && !attempt; i++) {
    out = new OutputTail(LOG_LIMIT)
    const { onOutput } = options
    if (onOutput) {
      const append = out.append.bind(out)
      out.append = (chunk: string) => {
        append(chunk)
        onOutput(chunk)
      }
    }
    let a: Attempt | undefined
    try {
      a = await startAttempt(options, ca, dir, out)
      await waitReady(a, ca, out, options)
      attempt = a
    } catch (err) {
      await Promise.all([terminate(a?.pebble), terminate(a?.challtest)])
      const message = err instanceof Error ? err.message : String(err)
      failures.push(`attempt ${i}: ${message}\n--- output (tail) ---\n${out.tail()}`)
      if (!(err instanceof StartError && err.retryable)) break
    }
  }
  if (!attempt) {
    await rm(dir, { recursive: true, force: true })
    registry().dirs.delete(dir)
    throw new Error(`could not start Pebble:\n${failures.join('\n')}`)
  }

  const { pebble, challtest, ports } = attempt
  const managementUrl = `https://${HOST}:${ports.management}`
  const log = out
  let stopped: Promise<void> | undefined

  async function managementText(path: string): Promise<string> {
    const res = await httpsGet(`${managementUrl}${path}`, ca.caPem)
    if (res.status !== 200) throw new Error(`GET ${managementUrl}${path} answered ${res.status}: ${res.body}`)
    return res.body
  }

  return {
    directoryUrl: `https://${HOST}:${ports.listen}/dir`,
    managementUrl,
    httpPort: ports.http,
    tlsPort: ports.tls,
    dnsPort: ports.dns,
    caPem: ca.caPem,
    caCertPath: ca.caCertPath,
    challtest: challtest ? challTestSrvClient(`http://${HOST}:${ports.challMgmt}`) : undefined,
    challtestUrl: challtest ? `http://${HOST}:${ports.challMgmt}` : undefined,
    pid: pebble.pid!,
    challtestPid: challtest?.pid,
    roots: (i = 0) => managementText(`/roots/${i}`),
    intermediates: (i = 0) => managementText(`/intermediates/${i}`),
    async certStatus(serialHex) {
      const serial = normaliseSerial(serialHex)
      const res = await httpsGet(`${managementUrl}/cert-status-by-serial/${serial}`, ca.caPem)
      if (res.status === 404) return { status: 'unknown', serial }
      if (res.status !== 200)
        throw new Error(`cert-status-by-serial/${serial} answered ${res.status}: ${res.body}`)
      return parseCertStatus(serial, JSON.parse(res.body))
    },
    logs: () => log.toString(),
    stop() {
      stopped ??= (async () => {
        await Promise.all([terminate(pebble), terminate(challtest)])
        await rm(dir, { recursive: true, force: true })
        registry().dirs.delete(dir)
      })()
      return stopped
    },
  }
}

/**
 * A DNS server started by `start` and a Pebble whose VA resolves through it, so dns-01 is validated against records
 * the code under test really published (no challtestsrv; Pebble's authorization reuse off; `pebble` adds to or
 * overrides those settings). The caller stops both; a Pebble that does not start takes the DNS server down with it.
 */
export async function startPebbleOn<S extends { dnsServer: string; stop(): Promise<void> }>(
  start: () => Promise<S>,
  pebble: PebbleOptions = {},
): Promise<{ dns: S; pebble: Pebble }> {
  const dns = await start()
  try {
    return {
      dns,
      pebble: await startPebble({
        dnsServer: dns.dnsServer,
        http01: 'self',
        challtestsrv: false,
        authzReusePercent: 0,
        ...pebble,
      }),
    }
  } catch (err) {
    await dns.stop()
    throw err
  }
}
