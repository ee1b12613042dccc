// Starts a real PowerDNS Authoritative Server (Debian pdns-server, gsqlite3 backend, HTTP API) on free
// ports of 127.0.0.1, and optionally dnsdist in front of it serving RFC 8484 DNS-over-HTTP (plain HTTP,
// `/dns-query`) with its webserver for statistics. The recipe is /work/shared/RUNTIMES.md's. Both processes
// are killed by stop(), on process exit and on SIGINT/SIGTERM/SIGHUP. Point Pebble's `-dnsserver` at
// `dnsServer` and it validates dns-01 against this server.

import { type ChildProcess, execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { childRegistry } from './children.ts'
import { exited, StartError, sleep, spawnDaemon, startWithRetries, terminate } from './daemon.ts'
import { type Pebble, type PebbleOptions, startPebbleOn } from './pebble.ts'
import { freePorts, listenerOwnedBy } from './ports.ts'
import { systemBinary } from './system.ts'

const run = promisify(execFile)
const HOST = '127.0.0.1'
const SCHEMA = '/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql'
const ATTEMPTS = 3

export interface PowerDnsOptions {
  /** Start dnsdist as a DoH front (default true). */
  doh?: boolean
  /** How long each attempt may take to answer (default 15 s). */
  startTimeoutMs?: number
}

export interface PdnsRrset {
  name: string
  type: string
  ttl: number
  records: Array<{ content: string; disabled: boolean }>
}

export interface PowerDns {
  /** Authoritative DNS port (UDP and TCP). */
  readonly dnsPort: number
  /** `127.0.0.1:<dnsPort>`, for Pebble's `-dnsserver`. */
  readonly dnsServer: string
  /** Base URL of the HTTP API webserver, `http://127.0.0.1:PORT` (the API lives under `/api/v1`). */
  readonly apiUrl: string
  readonly apiKey: string
  /** dnsdist's RFC 8484 endpoint over plain HTTP (`http://127.0.0.1:PORT/dns-query`), when `doh` is on. */
  readonly dohUrl: string | undefined
  readonly pid: number
  readonly dohPid: number | undefined
  /** Creates a Native zone (`example.test`), with SOA and `ns1.<zone>` NS records made by PowerDNS. */
  createZone(name: string): Promise<void>
  /** Every rrset of a zone, as the API returns it. */
  rrsets(zone: string): Promise<PdnsRrset[]>
  /** Replaces the rrset `name`/`type` in `zone` with `contents` (presentation format), or deletes it when empty. */
  setRecords(zone: string, name: string, type: string, contents: string[], ttl?: number): Promise<void>
  /** Queries dnsdist's DoH frontend has served so far (from its webserver statistics). */
  dohQueries(): Promise<number>
  /** Output of both processes so far. */
  logs(): string
  /** Kills both processes, waits for them, removes the temp dir. Idempotent. */
  stop(): Promise<void>
}

const registry = () => childRegistry('powerdns')

/** Spawns `cmd`, its output kept in `log` line by line, each line marked with `prefix`. */
function launch(cmd: string, args: string[], log: string[], prefix: string): ChildProcess {
  return spawnDaemon(registry(), cmd, args, (text) => {
    log.push(
      ...text
        .split('\n')
        .filter(Boolean)
        .map((line) => `${prefix}${line}`),
    )
    if (log.length > 2000) log.splice(0, log.length - 2000)
  })
}

// ------------------------------------------------------------------------------------------------

interface Ports {
  dns: number
  api: number
  dohDns: number
  doh: number
  web: number
}

async function attempt(dir: string, apiKey: string, options: PowerDnsOptions, log: string[]) {
  const [dns, api, dohDns, doh, web] = (await freePorts(5)) as [number, number, number, number, number]
  const ports: Ports = { dns, api, dohDns, doh, web }
  const db = join(dir, 'pdns.sqlite3')
  await rm(db, { force: true })
  await run(systemBinary('sqlite3'), [db, `.read ${SCHEMA}`])
  await mkdir(join(dir, 'run'), { recursive: true })
  await writeFile(
    join(dir, 'pdns.conf'),
    [
      'launch=gsqlite3',
      `gsqlite3-database=${db}`,
      `local-address=${HOST}`,
      `local-port=${ports.dns}`,
      'api=yes',
      `api-key=${apiKey}`,
      'webserver=yes',
      `webserver-address=${HOST}`,
      `webserver-port=${ports.api}`,
      'webserver-allow-from=127.0.0.0/8',
      `socket-dir=${join(dir, 'run')}`,
      'daemon=no',
      'guardian=no',
      'disable-syslog=yes',
      'security-poll-suffix=',
      '',
    ].join('\n'),
  )
  const pdns = launch(systemBinary('pdns_server'), [`--config-dir=${dir}`], log, '[pdns] ')
  let dnsdist: ChildProcess | undefined
  if (options.doh !== false) {
    const conf = join(dir, 'dnsdist.conf')
    await writeFile(
      conf,
      [
        "setSecurityPollSuffix('')",
        `setLocal('${HOST}:${ports.dohDns}')`,
        `newServer({address='${HOST}:${ports.dns}'})`,
        // No certificate: DNS over plain HTTP (RFC 8484 messages), enough for a local test.
        `addDOHLocal('${HOST}:${ports.doh}', nil, nil, '/dns-query')`,
        `webserver('${HOST}:${ports.web}')`,
        `setWebserverConfig({apiKey='${apiKey}', password='${apiKey}', acl='127.0.0.0/8'})`,
        '',
      ].join('\n'),
    )
    dnsdist = launch(
      systemBinary('dnsdist'),
      ['--supervised', '--disable-syslog', '-C', conf],
      log,
      '[dnsdist] ',
    )
  }
  return { pdns, dnsdist, ports }
}

async function waitReady(
  a: Awaited<ReturnType<typeof attempt>>,
  apiKey: string,
  options: PowerDnsOptions,
  log: string[],
): Promise<void> {
  const deadline = Date.now() + (options.startTimeoutMs ?? 15_000)
  const owned: Array<[ChildProcess, number, string]> = [
    [a.pdns, a.ports.api, 'pdns API'],
    [a.pdns, a.ports.dns, 'pdns DNS'],
  ]
  if (a.dnsdist) {
    owned.push([a.dnsdist, a.ports.doh, 'dnsdist DoH'], [a.dnsdist, a.ports.web, 'dnsdist webserver'])
  }
  let last = 'no answer yet'
  while (Date.now() < deadline) {
    for (const child of [a.pdns, a.dnsdist]) {
      if (!child) continue
      if (child.pid === undefined) {
        throw new StartError(
          `could not run ${child.spawnfile}: install it with \`node scripts/setup.mjs pdns\``,
          false,
        )
      }
      if (exited(child)) throw new StartError(`${child.spawnfile} exited while starting`, true)
    }
    if (log.some((line) => /address already in use|Unable to bind/i.test(line))) {
      throw new StartError('a port was taken', true)
    }
    try {
      const res = await fetch(`http://${HOST}:${a.ports.api}/api/v1/servers/localhost`, {
        headers: { 'x-api-key': apiKey },
        signal: AbortSignal.timeout(1000),
      })
      await res.arrayBuffer()
      if (res.status !== 200) throw new Error(`API answered ${res.status}`)
      while (owned.length > 0) {
        const [child, port, what] = owned[0]!
        if ((await listenerOwnedBy(child.pid!, port)) === false)
          throw new Error(`${what} port ${port} is not held yet`)
        owned.shift()
      }
      if (a.dnsdist) {
        // Until its first health check marks PowerDNS up, dnsdist drops queries (DoH answers 403).
        const stats = await fetch(`http://${HOST}:${a.ports.web}/api/v1/servers/localhost`, {
          headers: { 'x-api-key': apiKey },
          signal: AbortSignal.timeout(1000),
        })
        const body = (await stats.json()) as { servers?: Array<{ state?: string }> }
        if (body.servers?.[0]?.state?.toLowerCase() !== 'up')
          throw new Error('dnsdist has not marked PowerDNS up yet')
      }
      return
    } catch (err) {
      last = err instanceof Error ? err.message : String(err)
    }
    await sleep(100)
  }
  throw new StartError(`not ready: ${last}`, false)
}

/** Starts PowerDNS (and dnsdist unless `doh: false`). Call `stop()` when done. */
export async function startPowerDns(options: PowerDnsOptions = {}): Promise<PowerDns> {
  const dir = await mkdtemp(join(tmpdir(), 'webacme-pdns-'))
  registry().dirs.add(dir)
  const apiKey = randomBytes(12).toString('hex')
  const log: string[] = []
  let started: Awaited<ReturnType<typeof attempt>>
  try {
    started = await startWithRetries(
      'PowerDNS',
      async (children) => {
        log.length = 0
        const a = await attempt(dir, apiKey, options, log)
        children.push(a.pdns, ...(a.dnsdist ? [a.dnsdist] : []))
        await waitReady(a, apiKey, options, log)
        return a
      },
      { attempts: ATTEMPTS, tail: () => log.slice(-30).join('\n'), registry: registry() },
    )
  } catch (err) {
    await rm(dir, { recursive: true, force: true })
    registry().dirs.delete(dir)
    throw err
  }
  const { pdns, dnsdist, ports } = started
  const apiUrl = `http://${HOST}:${ports.api}`
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${apiUrl}/api/v1/servers/localhost${path}`, {
      method,
      headers: { 'x-api-key': apiKey, ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    })
    const text = await res.text()
    if (!res.ok) throw new Error(`PowerDNS API ${method} ${path}: ${res.status} ${text}`)
    return text === '' ? undefined : JSON.parse(text)
  }
  const fqdn = (name: string) => (name.endsWith('.') ? name : `${name}.`)
  let stopped: Promise<void> | undefined

  return {
    dnsPort: ports.dns,
    dnsServer: `${HOST}:${ports.dns}`,
    apiUrl,
    apiKey,
    dohUrl: dnsdist ? `http://${HOST}:${ports.doh}/dns-query` : undefined,
    pid: pdns.pid!,
    dohPid: dnsdist?.pid,
    async createZone(name) {
      await api('POST', '/zones', { name: fqdn(name), kind: 'Native', nameservers: [`ns1.${fqdn(name)}`] })
    },
    async rrsets(zone) {
      return ((await api('GET', `/zones/${fqdn(zone)}`)) as { rrsets: PdnsRrset[] }).rrsets
    },
    async setRecords(zone, name, type, contents, ttl = 60) {
      const rrset =
        contents.length === 0
          ? { name: fqdn(name), type, changetype: 'DELETE' }
          : {
              name: fqdn(name),
              type,
              ttl,
              changetype: 'REPLACE',
              records: contents.map((content) => ({ content, disabled: false })),
            }
      await api('PATCH', `/zones/${fqdn(zone)}`, { rrsets: [rrset] })
    },
    async dohQueries() {
      if (!dnsdist) return 0
      const res = await fetch(`http://${HOST}:${ports.web}/api/v1/servers/localhost`, {
        headers: { 'x-api-key': apiKey },
      })
      const body = (await res.json()) as { frontends: Array<{ type: string; queries: number }> }
      return body.frontends.filter((f) => /HTTP/.test(f.type)).reduce((sum, f) => sum + f.queries, 0)
    },
    logs: () => log.join('\n'),
    stop() {
      stopped ??= (async () => {
        await Promise.all([
          terminate(pdns, { registry: registry() }),
          terminate(dnsdist, { registry: registry() }),
        ])
        await rm(dir, { recursive: true, force: true })
        registry().dirs.delete(dir)
      })()
      return stopped
    },
  }
}

/**
 * A PowerDNS holding `zones` and a Pebble whose VA resolves through it (see {@link startPebbleOn}). The caller stops
 * both.
 */
export async function startPebbleOnPowerDns(
  zones: string[],
  pebble: PebbleOptions = {},
): Promise<{ pdns: PowerDns; pebble: Pebble }> {
  const started = await startPebbleOn(async () => {
    const pdns = await startPowerDns()
    try {
      for (const zone of zones) await pdns.createZone(zone)
    } catch (err) {
      await pdns.stop()
      throw err
    }
    return pdns
  }, pebble)
  return { pdns: started.dns, pebble: started.pebble }
}
