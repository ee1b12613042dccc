/// <reference types="node" />
/**
 * `createCertificateManager`: on-demand TLS for Node, Bun and Deno servers. The decisions are in
 * `src/ondemand/core.ts` (Web APIs only); this file adds what `node:tls` servers need: secure contexts per
 * certificate, the listener that answers tls-alpn-01 on the same port, and the Node-style HTTP handler.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net'
import { createSecureContext, type SecureContext, TLSSocket, type Server as TlsServer } from 'node:tls'
import { ACME_TLS_ALPN_PROTOCOL } from '../challenges/tls-alpn-01.ts'
import { type HeldCertificate, OnDemandCore } from '../ondemand/core.ts'
import type { CertificateManagerOptions, CertificatePems } from '../ondemand/types.ts'
import { clientHelloLength, parseClientHello } from './client-hello.ts'
import type { CertificateManager, EnsureResult } from './types.ts'

/** Longest a connection may take to send its ClientHello to the listener before it is closed (ms). */
const HELLO_TIMEOUT = 30_000
/** A ClientHello record is at most 16 KiB + header; anything longer is not one. */
const MAX_HELLO = 16_389 + 5

/**
 * Creates an on-demand certificate manager: certificates are issued at the first handshake for an allowed name
 * (the handshake waits), kept in `storage` and in memory, renewed in the background and swapped in without a
 * restart. Processes sharing the storage order each name once (a lease with a fencing token in the storage).
 *
 * Node (`tls`, `https`, `http2`), and Bun's `node:tls` server:
 *
 * @example
 * ```ts
 * import { createServer as createHttpServer } from 'node:http'
 * import { createServer } from 'node:https'
 * import { AcmeClient, directories, generateKeyPair } from 'webacme'
 * import { FsStorage } from 'webacme/storage/fs'
 * import { createCertificateManager } from 'webacme/tls'
 *
 * const manager = createCertificateManager({
 *   client: new AcmeClient({ directoryUrl: directories.letsencrypt.production, accountKey: await generateKeyPair() }),
 *   account: { termsOfServiceAgreed: true, contact: ['mailto:ops@example.com'] },
 *   storage: new FsStorage('/var/lib/webacme', { fs: await import('node:fs/promises') }),
 *   allow: ['example.com', '*.example.com'],
 * })
 * manager.on('issued', (e) => console.log(`issued ${e.name} in ${e.ms} ms`))
 * const https = createServer({ SNICallback: manager.SNICallback }, (req, res) => res.end('hello'))
 * manager.listener(https).listen(443) // answers tls-alpn-01 on 443, hands the rest to `https`
 * createHttpServer(manager.httpHandler).listen(80) // http-01 and redirects to https
 * ```
 *
 * Bun: the same code works with Bun's `node:tls` server (its `node:https` ignores SNICallback today). For
 * `Bun.serve`, which takes a fixed list of certificates, issue ahead with `ensure` and start the server again on
 * `renewed` (in Bun 1.4.5 `server.reload({ tls })` keeps the old certificate):
 *
 * @example
 * ```ts
 * import { AcmeClient, directories, generateKeyPair, MemoryStorage } from 'webacme'
 * import { createCertificateManager } from 'webacme/tls'
 *
 * declare const Bun: {
 *   serve(o: { port: number; tls?: { cert: string; key: string }; fetch(r: Request): Response | Promise<Response> }): {
 *     stop(): Promise<void>
 *   }
 * }
 * const manager = createCertificateManager({
 *   client: new AcmeClient({ directoryUrl: directories.letsencrypt.production, accountKey: await generateKeyPair() }),
 *   account: { termsOfServiceAgreed: true },
 *   storage: new MemoryStorage(), // FsStorage to keep certificates across restarts
 *   allow: ['example.com'],
 *   challenges: { tlsAlpn01: false }, // http-01 on port 80, through fetchHandler
 * })
 * Bun.serve({ port: 80, fetch: manager.fetchHandler })
 * const app = () => new Response('hello')
 * const [result] = await manager.ensure(['example.com'])
 * if (!result?.ok) throw result?.error
 * const { cert, key } = result.certificate
 * let server = Bun.serve({ port: 443, tls: { cert, key }, fetch: app })
 * manager.on('renewed', async () => {
 *   const renewed = await manager.getCertificate('example.com')
 *   await server.stop()
 *   server = Bun.serve({ port: 443, tls: { cert: renewed.cert, key: renewed.key }, fetch: app })
 * })
 * ```
 *
 * Deno: `Deno.serve` takes one certificate when it starts and Deno's `node:tls` has no SNICallback
 * (denoland/deno#23233), so the same pattern: `ensure`, serve, serve again on `renewed`.
 *
 * @example
 * ```ts
 * import { AcmeClient, directories, generateKeyPair } from 'webacme'
 * import { FsStorage } from 'webacme/storage/fs'
 * import { createCertificateManager } from 'webacme/tls'
 *
 * declare const Deno: {
 *   serve(o: { port: number; cert?: string; key?: string }, h: (r: Request) => Response | Promise<Response>): {
 *     shutdown(): Promise<void>
 *   }
 * }
 * const manager = createCertificateManager({
 *   client: new AcmeClient({ directoryUrl: directories.letsencrypt.production, accountKey: await generateKeyPair() }),
 *   account: { termsOfServiceAgreed: true },
 *   storage: new FsStorage('/var/lib/webacme', { fs: await import('node:fs/promises') }),
 *   allow: ['example.com'],
 *   challenges: { tlsAlpn01: false },
 * })
 * Deno.serve({ port: 80 }, manager.fetchHandler)
 * const app = () => new Response('hello')
 * const [result] = await manager.ensure(['example.com'])
 * if (!result?.ok) throw result?.error
 * let server = Deno.serve({ port: 443, cert: result.certificate.cert, key: result.certificate.key }, app)
 * manager.on('renewed', async () => {
 *   const { cert, key } = await manager.getCertificate('example.com')
 *   await server.shutdown()
 *   server = Deno.serve({ port: 443, cert, key }, app)
 * })
 * ```
 *
 * @throws {InvalidArgumentError} Without `allow` (there is no allow-all default), `storage`, `client`, or
 *   `account.termsOfServiceAgreed: true`.
 * @see {@link https://www.rfc-editor.org/rfc/rfc8737 RFC 8737} (tls-alpn-01)
 * @see {@link https://nodejs.org/api/tls.html#tlscreateserveroptions-secureconnectionlistener Node tls.createServer}
 */
export function createCertificateManager(options: CertificateManagerOptions): CertificateManager {
  const core = new OnDemandCore(options)
  const contexts = new WeakMap<HeldCertificate, SecureContext>()
  const contextOf = (held: HeldCertificate): SecureContext => {
    let context = contexts.get(held)
    if (!context) {
      context = createSecureContext({ cert: held.cert, key: held.key })
      contexts.set(held, context)
    }
    return context
  }
  const sockets = new Set<Socket>()
  const listeners = new Set<NetServer>()

  function SNICallback(
    this: unknown,
    servername: string,
    callback: (error: Error | null, context?: SecureContext) => void,
  ): void {
    // Node calls it as a method of the TLS socket: that gives the client's address for `allow` and the limits.
    const remoteAddress = (this as { remoteAddress?: unknown } | undefined)?.remoteAddress
    const held = core.held(servername)
    if (held) {
      callback(null, contextOf(held))
      return
    }
    core.certificateFor(servername, typeof remoteAddress === 'string' ? { remoteAddress } : {}).then(
      (found) => callback(null, contextOf(found)),
      (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
    )
  }

  async function answerTlsAlpn01(socket: Socket, serverName: string): Promise<void> {
    const stored = await core.tlsAlpn01(serverName).catch(() => undefined)
    if (!stored) {
      socket.destroy()
      return
    }
    // RFC 8737 §4: negotiate acme-tls/1 and nothing else; the handshake is the whole answer.
    const tls = new TLSSocket(socket, {
      isServer: true,
      secureContext: createSecureContext({ cert: stored.cert, key: stored.key }),
      ALPNProtocols: [ACME_TLS_ALPN_PROTOCOL],
    })
    tls.on('secure', () => tls.end())
    tls.on('error', () => tls.destroy())
    tls.on('close', () => socket.destroy())
  }

  function accept(socket: Socket, server: TlsServer): void {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
    const chunks: Uint8Array[] = []
    let length = 0
    const timer = setTimeout(() => socket.destroy(), HELLO_TIMEOUT)
    timer.unref?.()
    const handOver = (hello: ReturnType<typeof parseClientHello>) => {
      clearTimeout(timer)
      socket.removeListener('data', onData)
      socket.removeListener('error', onError)
      socket.pause()
      socket.unshift(Buffer.concat(chunks))
      sockets.delete(socket)
      if (hello?.serverName && hello.alpn.includes(ACME_TLS_ALPN_PROTOCOL)) {
        void answerTlsAlpn01(socket, hello.serverName)
      } else {
        // The TLS server reads what was unshifted (node:tls feeds a wrapped socket's buffered data to TLS).
        server.emit('connection', socket)
      }
    }
    const onError = () => {
      clearTimeout(timer)
      socket.destroy()
    }
    const onData = (chunk: Uint8Array) => {
      chunks.push(chunk)
      length += chunk.length
      const bytes = chunks.length === 1 ? chunk : Buffer.concat(chunks)
      const needed = clientHelloLength(bytes)
      if (needed === 'not-tls' || (typeof needed === 'number' && (length >= needed || needed > MAX_HELLO))) {
        handOver(needed === 'not-tls' ? undefined : parseClientHello(bytes))
      }
    }
    socket.on('data', onData)
    socket.on('error', onError)
  }

  function redirectTarget(host: string | undefined, path: string): string | undefined {
    // A Host of letters, digits, dots, hyphens and an optional port; anything else is not redirected.
    if (!host || !/^[A-Za-z0-9.-]{1,253}(:\d{1,5})?$/.test(host)) return undefined
    return `https://${host.replace(/:\d+$/, '')}${path.startsWith('/') ? path : '/'}`
  }

  const manager: CertificateManager = {
    SNICallback,
    listener(server: TlsServer): NetServer {
      const net = createNetServer((socket) => accept(socket, server))
      listeners.add(net)
      net.once('close', () => listeners.delete(net))
      return net
    },
    httpHandler(req: IncomingMessage, res: ServerResponse): void {
      const path = req.url ?? '/'
      const answer =
        req.method === 'GET' || req.method === 'HEAD'
          ? core.http01(path.split('?')[0] ?? path)
          : Promise.resolve(undefined)
      answer.then(
        (keyAuthorization) => {
          if (keyAuthorization !== undefined) {
            res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' })
            res.end(req.method === 'HEAD' ? undefined : keyAuthorization)
            return
          }
          const target = redirectTarget(req.headers.host, path)
          if (!target) {
            res.writeHead(400, { 'content-type': 'text/plain' })
            res.end('bad Host header\n')
            return
          }
          res.writeHead(308, { location: target })
          res.end()
        },
        () => {
          res.writeHead(503, { 'content-type': 'text/plain' })
          res.end('storage unavailable\n')
        },
      )
    },
    async fetchHandler(request: Request): Promise<Response> {
      const url = new URL(request.url)
      if (request.method === 'GET' || request.method === 'HEAD') {
        let keyAuthorization: string | undefined
        try {
          keyAuthorization = await core.http01(url.pathname)
        } catch {
          return new Response('storage unavailable\n', { status: 503 })
        }
        if (keyAuthorization !== undefined) {
          return new Response(request.method === 'HEAD' ? null : keyAuthorization, {
            headers: { 'content-type': 'text/plain', 'cache-control': 'no-store' },
          })
        }
      }
      const target = redirectTarget(request.headers.get('host') ?? url.host, url.pathname + url.search)
      if (!target) return new Response('bad Host header\n', { status: 400 })
      return new Response(null, { status: 308, headers: { location: target } })
    },
    async getCertificate(name, context) {
      return pems(await core.certificateFor(name, context ?? {}))
    },
    async ensure(names): Promise<EnsureResult[]> {
      return (await core.ensure(names)).map((r) =>
        r.held
          ? { name: r.name, ok: true, certificate: pems(r.held) }
          : { name: r.name, ok: false, error: r.error },
      )
    },
    renewNow: () => core.renewNow(),
    async close() {
      for (const net of listeners) net.close()
      for (const socket of sockets) socket.destroy()
      await core.close()
    },
    on: (type, listener) => core.on(type, listener),
    stats: () => core.stats(),
  }
  return manager
}

function pems(held: HeldCertificate): CertificatePems {
  return { cert: held.cert, key: held.key, serialNumber: held.serialNumber, notAfter: held.notAfter }
}
