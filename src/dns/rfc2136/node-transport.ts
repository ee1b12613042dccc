/// <reference types="node" />
/**
 * A {@link DnsTransport} over TCP with `node:net`, for Node, Deno and Bun: one connection per exchange, messages
 * framed with their two-byte length (RFC 1035 §4.2.2). Kept behind its own entry point so that
 * `webacme/dns/rfc2136` stays Web-only (Workers use `streamTransport()` with `connect()` instead).
 *
 * @module webacme/dns/rfc2136/node
 */
import { connect } from 'node:net'
import { InvalidArgumentError } from '../../errors.ts'
import { DnsUpdateError } from './errors.ts'
import { DnsFrameReader, type DnsTransport, type DnsTransportOptions, frameMessage } from './transport.ts'

export type { DnsTransport, DnsTransportOptions } from './transport.ts'

/** Options of {@link nodeTcpTransport}. */
export interface NodeTcpTransportOptions {
  /** The server's address: a host name, an IPv4 or an IPv6 address (without brackets). */
  host: string
  /** Default 53. */
  port?: number
  /** Milliseconds an exchange may take, connecting included (default 10 000): a hang guard. */
  timeout?: number
}

/**
 * The DNS server at `host`:`port` over TCP. A refused connection, a connection closed before the whole answer
 * arrived, or no answer within `timeout` is a {@link DnsUpdateError} (`ERR_DNS_PROVIDER`); an abort closes the
 * connection and rejects with the signal's reason.
 *
 * @example
 * ```ts
 * import { rfc2136Adapter } from 'webacme/dns/rfc2136'
 * import { nodeTcpTransport } from 'webacme/dns/rfc2136/node'
 *
 * const adapter = rfc2136Adapter({
 *   transport: nodeTcpTransport({ host: '192.0.2.53', port: 53 }),
 *   tsig: { name: 'acme-update', secret: 'c2VjcmV0IGtleSBieXRlcyBmb3IgdGhlIGV4YW1wbGUh', algorithm: 'hmac-sha256' },
 * })
 * await adapter.createTxt('_acme-challenge.example.com', 'token-digest')
 * ```
 */
export function nodeTcpTransport(options: NodeTcpTransportOptions): DnsTransport {
  const host = options?.host
  const port = options?.port ?? 53
  if (typeof host !== 'string' || host === '') throw new InvalidArgumentError('nodeTcpTransport needs a host')
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InvalidArgumentError(`nodeTcpTransport: port must be 1-65535, got ${port}`)
  }
  const timeout = options.timeout ?? 10_000
  const server = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
  const exchange = (message: Uint8Array, { signal }: DnsTransportOptions = {}) =>
    new Promise<Uint8Array>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason)
      const frames = new DnsFrameReader()
      const socket = connect({ host, port })
      let settled = false
      const finish = (err: unknown, answer?: Uint8Array) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        socket.destroy()
        if (answer) resolve(answer)
        else reject(err)
      }
      const fail = (text: string, cause?: unknown) =>
        finish(new DnsUpdateError('ERR_DNS_PROVIDER', `rfc2136: ${text} (${server})`, { server, cause }))
      const onAbort = () => finish(signal?.reason)
      const timer = setTimeout(() => fail(`no answer within ${timeout} ms`), timeout)
      signal?.addEventListener('abort', onAbort, { once: true })
      socket.once('connect', () => socket.write(frameMessage(message)))
      socket.on('data', (chunk: Uint8Array) => {
        const answer = frames.push(new Uint8Array(chunk))
        if (answer) finish(undefined, answer)
      })
      socket.once('end', () => fail(frames.shortfall()))
      socket.once('close', () => fail(frames.shortfall()))
      socket.once('error', (err) => fail(`connection failed: ${err.message}`, err))
    })
  return Object.assign(exchange, { server })
}
