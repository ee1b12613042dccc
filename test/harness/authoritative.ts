// What the BIND 9 and Knot DNS harnesses (bind.ts, knot.ts) share: a throw-away directory, one TSIG key per
// algorithm with a random secret, zone files, starting the server on a free loopback port (retried when the port
// was taken), readiness (the process holds the port and every zone answers its SOA), reading TXT records with
// dig/kdig, and a Pebble whose VA resolves through the server. Processes are registered in children.ts, so they
// die with the test process.

import { type ChildProcess, execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { childRegistry } from './children.ts'
import { exited, StartError, sleep, spawnDaemon, startWithRetries, terminate } from './daemon.ts'
import { OutputTail } from './output-tail.ts'
import { freePort, listenerOwnedBy } from './ports.ts'
import { systemBinary } from './system.ts'

const run = promisify(execFile)
export const HOST = '127.0.0.1'
const ATTEMPTS = 3

export type TestTsigAlgorithm = 'hmac-sha256' | 'hmac-sha384' | 'hmac-sha512' | 'hmac-sha1'

/** A TSIG key the server knows and allows to update every zone. */
export interface TestTsigKey {
  name: string
  algorithm: TestTsigAlgorithm
  /** base64, as in the server's configuration. */
  secret: string
}

export interface AuthoritativeOptions {
  /** Zones the server is primary for, each with SOA, NS and `ns1.<zone>` A records. */
  zones: string[]
  /** Zones it serves too, but where no key may update anything. */
  readOnlyZones?: string[]
  /** How long each attempt may take to answer (default 20 s). */
  startTimeoutMs?: number
}

export interface AuthoritativeServer {
  readonly kind: 'bind' | 'knot'
  /** DNS port (UDP and TCP) on 127.0.0.1. */
  readonly port: number
  /** `127.0.0.1:<port>`, for Pebble's `-dnsserver`. */
  readonly dnsServer: string
  /** One key per algorithm (`acme-hmac-sha256`, ...), each allowed to update every zone. */
  readonly keys: Readonly<Record<TestTsigAlgorithm, TestTsigKey>>
  readonly zones: readonly string[]
  readonly pid: number
  /** The TXT values at `name` as the server answers them (dig/kdig), decoded and sorted. */
  txt(name: string): Promise<string[]>
  /** The `dig`/`kdig` answer section for `name`/`type` (e.g. `CNAME`), one record per line. */
  query(name: string, type: string): Promise<string[]>
  /** Output of the server so far. */
  logs(): string
  /** Kills the server, waits for it, removes its directory. Idempotent. */
  stop(): Promise<void>
}

/** How one server is configured and started. */
export interface ServerSpec {
  kind: 'bind' | 'knot'
  /** The server binary (`named`, `knotd`) and the query tool (`dig`, `kdig`). */
  daemon: string
  digTool: string
  /** Writes the configuration and zone files into `dir`; returns the daemon's arguments. */
  configure(
    dir: string,
    port: number,
    keys: TestTsigKey[],
    zones: string[],
    readOnlyZones: string[],
  ): Promise<string[]>
  /** Lines meaning the port could not be bound (retry on another port). */
  portTaken: RegExp
}

const ALGORITHMS: TestTsigAlgorithm[] = ['hmac-sha256', 'hmac-sha384', 'hmac-sha512', 'hmac-sha1']
const SECRET_BYTES: Record<TestTsigAlgorithm, number> = {
  'hmac-sha256': 32,
  'hmac-sha384': 48,
  'hmac-sha512': 64,
  'hmac-sha1': 20,
}

/**
 * A zone file: SOA (negative TTL 1 s, so a TXT queried before it exists is not remembered long), NS, A, and a CNAME
 * at `_acme-challenge.cname.<zone>` (a TXT cannot be added beside it).
 */
export function zoneFile(zone: string): string {
  return [
    '$TTL 60',
    `@ IN SOA ns1.${zone}. hostmaster.${zone}. 1 3600 600 86400 1`,
    `@ IN NS ns1.${zone}.`,
    `ns1 IN A ${HOST}`,
    `_acme-challenge.cname IN CNAME _acme-challenge.${zone}.`,
    '',
  ].join('\n')
}

/**
 * One TXT record as dig/kdig print it (`"part one" "part two"`), decoded: the quoted strings joined, `\"`, `\\` and
 * `\DDD` undone. Written here rather than taken from src/, so that a bug in the library's TXT parser cannot hide.
 */
function decodeTxtLine(line: string): string {
  const bytes: number[] = []
  for (const [, inner] of line.matchAll(/"((?:[^"\\]|\\.)*)"/g)) {
    const text = inner ?? ''
    for (let i = 0; i < text.length; i++) {
      if (text[i] === '\\' && /^\d{3}$/.test(text.slice(i + 1, i + 4))) {
        bytes.push(Number(text.slice(i + 1, i + 4)))
        i += 3
      } else {
        if (text[i] === '\\') i++
        bytes.push(...new TextEncoder().encode(text[i]))
      }
    }
  }
  return new TextDecoder().decode(new Uint8Array(bytes))
}

/** `dig @127.0.0.1 -p PORT +short +norec TYPE name` (or kdig), one answer record per line. */
async function dig(tool: string, port: number, name: string, type: string): Promise<string[]> {
  const { stdout } = await run(systemBinary(tool), [
    `@${HOST}`,
    '-p',
    String(port),
    '+short',
    '+norec',
    '+retry=0',
    '+time=5',
    type,
    name,
  ])
  return stdout.split('\n').filter((line) => line.trim() !== '' && !line.startsWith(';'))
}

/** Starts a server as `spec` says, on a free port, with a key per algorithm and `options.zones`. */
export async function startAuthoritative(
  spec: ServerSpec,
  options: AuthoritativeOptions,
): Promise<AuthoritativeServer> {
  const registry = childRegistry(spec.kind)
  const dir = await mkdtemp(join(tmpdir(), `webacme-${spec.kind}-`))
  registry.dirs.add(dir)
  const keys = ALGORITHMS.map(
    (algorithm): TestTsigKey => ({
      name: `acme-${algorithm}`,
      algorithm,
      secret: randomBytes(SECRET_BYTES[algorithm]).toString('base64'),
    }),
  )
  const zones = options.zones.map((z) => z.toLowerCase().replace(/\.$/, ''))
  const readOnlyZones = (options.readOnlyZones ?? []).map((z) => z.toLowerCase().replace(/\.$/, ''))
  const log = new OutputTail(64 * 1024)
  let started: { child: ChildProcess; port: number }
  try {
    started = await startWithRetries(
      spec.daemon,
      async (children) => {
        const port = await freePort()
        const args = await spec.configure(dir, port, keys, zones, readOnlyZones)
        const child = spawnDaemon(registry, systemBinary(spec.daemon), args, (text) => log.append(text))
        children.push(child)
        await waitReady(
          spec,
          child,
          port,
          [...zones, ...readOnlyZones],
          log,
          options.startTimeoutMs ?? 20_000,
        )
        return { child, port }
      },
      { attempts: ATTEMPTS, tail: () => log.tail(30), registry },
    )
  } catch (err) {
    await rm(dir, { recursive: true, force: true })
    registry.dirs.delete(dir)
    throw err
  }
  const { child, port } = started
  let stopped: Promise<void> | undefined
  return {
    kind: spec.kind,
    port,
    dnsServer: `${HOST}:${port}`,
    keys: Object.fromEntries(keys.map((k) => [k.algorithm, k])) as Record<TestTsigAlgorithm, TestTsigKey>,
    zones,
    pid: child.pid!,
    async txt(name) {
      const lines = await dig(spec.digTool, port, name, 'TXT')
      return lines.map(decodeTxtLine).sort()
    },
    query: (name, type) => dig(spec.digTool, port, name, type),
    logs: () => log.toString(),
    stop() {
      stopped ??= (async () => {
        await terminate(child, { registry, graceMs: 5000 })
        await rm(dir, { recursive: true, force: true })
        registry.dirs.delete(dir)
      })()
      return stopped
    },
  }
}

async function waitReady(
  spec: ServerSpec,
  child: ChildProcess,
  port: number,
  zones: string[],
  log: OutputTail,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last = 'no answer yet'
  const pending = [...zones]
  while (Date.now() < deadline) {
    if (child.pid === undefined) {
      throw new StartError(
        `could not run ${spec.daemon}: install it with \`node scripts/setup.mjs ${spec.kind}\``,
        false,
      )
    }
    if (spec.portTaken.test(log.toString())) throw new StartError(`port ${port} was taken`, true)
    if (exited(child)) throw new StartError(`${spec.daemon} exited while starting`, false)
    try {
      if ((await listenerOwnedBy(child.pid, port)) === false) throw new Error(`port ${port} is not held yet`)
      while (pending.length > 0) {
        const soa = await dig(spec.digTool, port, pending[0]!, 'SOA')
        if (soa.length === 0) throw new Error(`zone ${pending[0]} does not answer its SOA yet`)
        pending.shift()
      }
      return
    } catch (err) {
      last = err instanceof Error ? err.message : String(err)
    }
    await sleep(100)
  }
  throw new StartError(`not ready: ${last}`, false)
}

/** Kept here too: the BIND/Knot suites start their Pebble with it. */
export { startPebbleOn } from './pebble.ts'
