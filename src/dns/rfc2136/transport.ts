/**
 * How the RFC 2136 adapter reaches a DNS server. Web APIs have no sockets, so the caller passes a
 * {@link DnsTransport}: one DNS message out, the answer back. Over TCP each message is framed with a two-byte
 * length (RFC 1035 §4.2.2); {@link streamTransport} does that over any socket with Web streams (Cloudflare Workers'
 * `connect()`), `webacme/dns/rfc2136/node` over `node:net` (Node, Deno, Bun).
 */
import { throwIfAborted } from '../../lib/abort.ts'
import type { AbortSignalLike } from '../../lib/web-types.ts'
import { DnsUpdateError } from './errors.ts'

/** Per-exchange options a transport gets. */
export interface DnsTransportOptions {
  /** Aborting it ends the exchange at once (the connection is closed) and rejects with the signal's reason. */
  signal?: AbortSignalLike | undefined
}

/**
 * Sends one DNS message (no length prefix) to the server and resolves to its answer (no length prefix). A
 * connection closed early, a short answer or no answer in time must reject (with a {@link DnsUpdateError}
 * `ERR_DNS_PROVIDER` in the transports of this package), never hang. `server` names the server in errors.
 */
export type DnsTransport = ((message: Uint8Array, options: DnsTransportOptions) => Promise<Uint8Array>) & {
  readonly server?: string
}

/** The two-byte length prefix of DNS over TCP (RFC 1035 §4.2.2) followed by the message. */
export function frameMessage(message: Uint8Array): Uint8Array {
  if (message.length > 0xffff) throw new RangeError('a DNS message over TCP is at most 65535 bytes')
  const out = new Uint8Array(message.length + 2)
  out[0] = message.length >>> 8
  out[1] = message.length & 0xff
  out.set(message, 2)
  return out
}

/** Collects the chunks of a TCP stream until one length-prefixed DNS message is complete (RFC 1035 §4.2.2). */
export class DnsFrameReader {
  #chunks: Uint8Array[] = []
  #received = 0

  /** Bytes received so far, the length prefix included. */
  get received(): number {
    return this.#received
  }

  /** Bytes the frame needs in all (prefix included), once the prefix has arrived. */
  get expected(): number | undefined {
    if (this.#received < 2) return undefined
    const head = this.#bytes()
    return 2 + ((head[0]! << 8) | head[1]!)
  }

  /** Adds a chunk; returns the message once it is complete (bytes after it are ignored: one answer per request). */
  push(chunk: Uint8Array): Uint8Array | undefined {
    this.#chunks.push(chunk)
    this.#received += chunk.length
    const expected = this.expected
    if (expected === undefined || this.#received < expected) return undefined
    return this.#bytes().slice(2, expected)
  }

  /** Why the stream ended too early, for the error message. */
  shortfall(): string {
    if (this.#received === 0) return 'the server closed the connection without answering'
    if (this.#received < 2) return 'the server closed the connection inside the length prefix'
    return `the server closed the connection after ${this.#received - 2} of ${this.expected! - 2} bytes of its answer`
  }

  #bytes(): Uint8Array {
    if (this.#chunks.length > 1) {
      const all = new Uint8Array(this.#received)
      let at = 0
      for (const c of this.#chunks) {
        all.set(c, at)
        at += c.length
      }
      this.#chunks = [all]
    }
    return this.#chunks[0] ?? new Uint8Array(0)
  }
}

/** The parts of a socket with Web streams that {@link streamTransport} uses (`cloudflare:sockets` `Socket`). */
export interface StreamSocketLike {
  readonly readable: {
    getReader(): {
      read(): Promise<{ done: boolean; value?: Uint8Array | undefined }>
      releaseLock(): void
    }
  }
  readonly writable: { getWriter(): { write(chunk: Uint8Array): Promise<void>; releaseLock(): void } }
  close(): Promise<unknown> | unknown
}

/** Options of {@link streamTransport}. */
export interface StreamTransportOptions {
  /** Milliseconds an exchange may take, connecting included (default 10 000): a hang guard. */
  timeout?: number
  /** The server's address, for error messages (`ns1.example.net:53`). */
  server?: string
}

/**
 * A transport over sockets with Web streams: `open()` makes a new TCP connection for each exchange (a dynamic update
 * is one message), which is framed per RFC 1035 §4.2.2 and closed after the answer.
 *
 * @example
 * In a Cloudflare Worker, with `connect()` from `cloudflare:sockets` (the caller imports it; webacme does not):
 * ```ts
 * import { rfc2136Adapter, type StreamSocketLike, streamTransport } from 'webacme/dns/rfc2136'
 *
 * // In the Worker: import { connect } from 'cloudflare:sockets'
 * declare const connect: (address: { hostname: string; port: number }) => StreamSocketLike
 *
 * const adapter = rfc2136Adapter({
 *   transport: streamTransport(() => connect({ hostname: 'ns1.example.net', port: 53 }), {
 *     server: 'ns1.example.net:53',
 *   }),
 *   tsig: { name: 'acme-update', secret: 'c2VjcmV0IGtleSBieXRlcyBmb3IgdGhlIGV4YW1wbGUh', algorithm: 'hmac-sha256' },
 * })
 * console.log(adapter.name)
 * ```
 */
/* @__NO_SIDE_EFFECTS__ */
export function streamTransport(
  open: () => StreamSocketLike | Promise<StreamSocketLike>,
  options: StreamTransportOptions = {},
): DnsTransport {
  const timeout = options.timeout ?? 10_000
  const server = options.server
  const where = server ? ` (${server})` : ''
  const exchange = async (message: Uint8Array, { signal }: DnsTransportOptions = {}): Promise<Uint8Array> => {
    throwIfAborted(signal)
    let socket: StreamSocketLike | undefined
    let timer: ReturnType<typeof setTimeout> | undefined
    let onAbort: (() => void) | undefined
    const stop = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new DnsUpdateError('ERR_DNS_PROVIDER', `rfc2136: no answer within ${timeout} ms${where}`, {
              server,
            }),
          ),
        timeout,
      )
      onAbort = () => reject(signal?.reason)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
    let finished = false
    const work = (async () => {
      const opened = await open()
      if (finished) {
        // Aborted or timed out while connecting: this late socket is nobody's.
        await opened.close()
        throw new Error('exchange already ended')
      }
      socket = opened
      const writer = socket.writable.getWriter()
      await writer.write(frameMessage(message))
      writer.releaseLock()
      const reader = socket.readable.getReader()
      const frames = new DnsFrameReader()
      for (;;) {
        const { done, value } = await reader.read()
        if (done)
          throw new DnsUpdateError('ERR_DNS_PROVIDER', `rfc2136: ${frames.shortfall()}${where}`, { server })
        const answer = value && frames.push(value)
        if (answer) return answer
      }
    })()
    try {
      return await Promise.race([work, stop])
    } catch (err) {
      if (err instanceof DnsUpdateError || (signal?.aborted && err === signal.reason)) throw err
      throw new DnsUpdateError('ERR_DNS_PROVIDER', `rfc2136: connection failed${where}: ${describe(err)}`, {
        server,
        cause: err,
      })
    } finally {
      finished = true
      clearTimeout(timer)
      if (onAbort) signal?.removeEventListener('abort', onAbort)
      work.catch(() => {}) // settles once the socket is closed; its outcome no longer matters
      stop.catch(() => {})
      try {
        await socket?.close()
      } catch {}
    }
  }
  return server === undefined ? exchange : Object.assign(exchange, { server })
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
