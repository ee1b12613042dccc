/** What the on-demand TLS tests share: a verified TLS handshake, a line-protocol child process, Pebble's order count. */
import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import { createInterface } from 'node:readline'
import { connect, type TLSSocket } from 'node:tls'
import type { Pebble } from '../../harness/pebble.ts'

export interface Peer {
  serialNumber: string
  subjectAltName: string | undefined
  authorized: boolean
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
        serialNumber: peer.serialNumber.toLowerCase().replace(/^0+/, ''),
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

/** Orders Pebble created so far, from its log (one line per order; a newOrder retried after badNonce is one). */
export function pebbleNewOrders(pebble: Pebble): number {
  return pebble.logs().match(/Added order "[^"]+" to the db/g)?.length ?? 0
}
