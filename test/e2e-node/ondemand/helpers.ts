/** What the on-demand TLS tests share: a verified TLS handshake, a line-protocol child process, Pebble's order count. */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { connect, type TLSSocket } from 'node:tls'
import { fileURLToPath } from 'node:url'
import { expect } from 'vitest'
import { childRegistry } from '../../harness/children.ts'
import type { Pebble } from '../../harness/pebble.ts'

const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url))

export interface Peer {
  serialNumber: string
  subjectAltName: string | undefined
  authorized: boolean
}

/**
 * A serial number as the tests compare it: lowercase hex without leading zeros. Node's `getPeerCertificate()` and
 * webacme's records both write whole bytes (`0f53…`), but the leading zero is not part of the number.
 */
export function comparableSerial(hex: string): string {
  return hex.toLowerCase().replace(/^0+/, '')
}

/** A TLS handshake with `servername`, verified against Pebble's root; resolves with the peer certificate. */
export function handshake(port: number, servername: string, ca: string): Promise<Peer> {
  return new Promise((resolve, reject) => {
    const socket: TLSSocket = connect({
      host: '127.0.0.1',
      port,
      servername,
      ca,
      ALPNProtocols: ['http/1.1'],
    })
    socket.once('secureConnect', () => {
      const peer = socket.getPeerCertificate()
      resolve({
        serialNumber: comparableSerial(peer.serialNumber),
        subjectAltName: peer.subjectaltname,
        authorized: socket.authorized,
      })
      socket.destroy()
    })
    socket.once('error', reject)
  })
}

/** Newline-delimited lines of a child's stdout, awaited by prefix. */
export class Child {
  readonly lines: string[] = []
  readonly #waiters: Array<{ prefix: string; resolve: (line: string) => void }> = []
  output = ''
  constructor(readonly process: ChildProcessWithoutNullStreams) {
    createInterface({ input: process.stdout }).on('line', (line) => {
      this.output += `${line}\n`
      const waiter = this.#waiters.findIndex((w) => line.startsWith(w.prefix))
      if (waiter >= 0) this.#waiters.splice(waiter, 1)[0]!.resolve(line)
      else this.lines.push(line)
    })
    process.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      this.output += chunk
    })
  }
  next(prefix: string): Promise<string> {
    const seen = this.lines.findIndex((l) => l.startsWith(prefix))
    if (seen >= 0) return Promise.resolve(this.lines.splice(seen, 1)[0]!.slice(prefix.length + 1))
    return new Promise((resolve, reject) => {
      this.process.once('exit', (code) => reject(new Error(`child exited ${code}:\n${this.output}`)))
      this.#waiters.push({ prefix, resolve: (line) => resolve(line.slice(prefix.length + 1)) })
    })
  }
}

/** Starts ./child.ts, one server process of a multi-process test, configured by `env` (described there). */
export function startChild(env: Record<string, string>): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  childRegistry('ondemand-tls').children.add(child)
  return new Child(child)
}

/** Asks each child to close and resolves when all have exited. */
export async function closeChildren(children: Child[]): Promise<void> {
  const exited = children.map((c) =>
    c.process.exitCode !== null || c.process.signalCode !== null
      ? undefined
      : new Promise((resolve) => c.process.once('exit', resolve)),
  )
  for (const c of children) c.process.stdin.end('close\n')
  await Promise.all(exited)
}

/** Stats a child sends on `stats`, summed over children. */
export interface ChildTotals {
  ordersPlaced: number
  /** newOrder requests its client sent, counted on the wire (first attempts). */
  newOrderPosts: number
  issued: number
  /** Processes that waited for another one's lease, once per name. */
  waitedForOtherProcess: number
  /** newOrder requests held now (`HOLD_ORDERS`). */
  heldOrders: number
}

/** Asks every child for its stats and sums them. */
export async function childTotals(children: Child[]): Promise<ChildTotals> {
  const stats = await Promise.all(
    children.map(async (c) => {
      c.process.stdin.write('stats\n')
      return JSON.parse(await c.next('STATS')) as ChildTotals
    }),
  )
  const sum = (key: keyof ChildTotals) => stats.reduce((total, s) => total + s[key], 0)
  return {
    ordersPlaced: sum('ordersPlaced'),
    newOrderPosts: sum('newOrderPosts'),
    issued: sum('issued'),
    waitedForOtherProcess: sum('waitedForOtherProcess'),
    heldOrders: sum('heldOrders'),
  }
}

/**
 * Each port asked for every name at once (one TLS handshake per port and name): the reasons of the failed
 * handshakes, and for the others the name and the peer certificate.
 */
export async function handshakeEvery(
  ports: number[],
  names: string[],
  ca: string,
): Promise<{ failures: string[]; ok: Array<{ name: string; peer: Peer }> }> {
  const results = await Promise.allSettled(
    ports.flatMap((port) => names.map((name) => handshake(port, name, ca).then((peer) => ({ name, peer })))),
  )
  return {
    failures: results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : [])),
    ok: results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])),
  }
}

/**
 * Checks that every handshake verified for its own name and that every process served the same certificate for a
 * name (one order per name); resolves each name to its certificate's serial number.
 */
export function oneCertificatePerName(
  ok: Array<{ name: string; peer: Peer }>,
  names: string[],
): Map<string, string> {
  for (const { name, peer } of ok) {
    expect(peer.authorized).toBe(true)
    expect(peer.subjectAltName).toBe(`DNS:${name}`)
  }
  const serials = new Map<string, string>()
  for (const name of names) {
    const served = new Set(ok.filter((r) => r.name === name).map((r) => r.peer.serialNumber))
    expect(served.size, name).toBe(1)
    serials.set(name, [...served][0]!)
  }
  return serials
}

/** Orders Pebble created so far, from its log (one line per order; a newOrder retried after badNonce is one). */
export function pebbleNewOrders(pebble: Pebble): number {
  return pebble.logs().match(/Added order "[^"]+" to the db/g)?.length ?? 0
}
