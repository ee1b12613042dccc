/**
 * The reverse proxy of `webacme serve`: every HTTPS request (and WebSocket upgrade) goes to one local HTTP app,
 * bodies streamed both ways, with the `X-Forwarded-For/-Proto/-Host` headers apps expect behind a proxy. The
 * client's `Host` is passed through unchanged, as Caddy and nginx's usual setup do.
 */
import {
  Agent,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  request,
  type ServerResponse,
} from 'node:http'
import type { Duplex } from 'node:stream'

// RFC 9110 §7.6.1: hop-by-hop fields, and every field the Connection header names, are not forwarded.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
])

function endToEnd(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const named = new Set(
    String(headers.connection ?? '')
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean),
  )
  const out: OutgoingHttpHeaders = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name)) continue
    out[name] = value
  }
  return out
}

function forwardedHeaders(req: IncomingMessage): OutgoingHttpHeaders {
  const headers = endToEnd(req.headers)
  const remote = req.socket.remoteAddress ?? ''
  const prior = req.headers['x-forwarded-for']
  headers['x-forwarded-for'] = prior ? `${prior}, ${remote}` : remote
  headers['x-forwarded-proto'] = 'https'
  if (req.headers.host !== undefined) headers['x-forwarded-host'] = req.headers.host
  return headers
}

export interface Proxy {
  /** The `request` handler of the HTTPS server. */
  handle(req: IncomingMessage, res: ServerResponse): void
  /** The `upgrade` handler of the HTTPS server (WebSocket and other upgrades). */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void
  close(): void
}

/** A proxy to `target` (an `http:` URL; its path, if any, is put in front of every request path). */
export function createProxy(target: URL, onError: (message: string) => void): Proxy {
  const agent = new Agent({ keepAlive: true })
  const base = target.pathname.replace(/\/$/, '')
  const options = (req: IncomingMessage) => ({
    host: target.hostname,
    port: target.port || 80,
    method: req.method,
    path: `${base}${req.url ?? '/'}`,
    headers: forwardedHeaders(req),
  })
  return {
    handle(req, res) {
      const upstream = request({ ...options(req), agent }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.statusMessage, endToEnd(answer.headers))
        answer.pipe(res)
      })
      upstream.on('error', (err) => {
        onError(`${req.method} ${req.url}: ${target.origin} failed: ${err.message}`)
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end('502 bad gateway\n')
        else res.destroy(err)
      })
      // The client went away before the answer was complete: stop the upstream request too.
      res.on('close', () => {
        if (!res.writableFinished) upstream.destroy()
      })
      req.pipe(upstream)
    },
    upgrade(req, socket, head) {
      const headers = forwardedHeaders(req)
      headers.connection = 'upgrade'
      headers.upgrade = req.headers.upgrade ?? ''
      const upstream = request({ ...options(req), headers })
      upstream.on('upgrade', (answer, upSocket, upHead) => {
        const lines = [`HTTP/1.1 ${answer.statusCode} ${answer.statusMessage}`]
        for (let i = 0; i < answer.rawHeaders.length; i += 2)
          lines.push(`${answer.rawHeaders[i]}: ${answer.rawHeaders[i + 1]}`)
        socket.write(`${lines.join('\r\n')}\r\n\r\n`)
        if (upHead.length) socket.write(upHead)
        if (head.length) upSocket.write(head)
        upSocket.pipe(socket).pipe(upSocket)
        upSocket.on('error', () => socket.destroy())
        socket.on('error', () => upSocket.destroy())
      })
      upstream.on('response', (answer) => {
        // The app refused the upgrade: pass its answer on and close.
        const lines = [`HTTP/1.1 ${answer.statusCode} ${answer.statusMessage}`, 'connection: close']
        socket.write(`${lines.join('\r\n')}\r\n\r\n`)
        answer.pipe(socket)
      })
      upstream.on('error', (err) => {
        onError(`upgrade ${req.url}: ${target.origin} failed: ${err.message}`)
        socket.end('HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\ncontent-length: 0\r\n\r\n')
      })
      upstream.end()
    },
    close: () => agent.destroy(),
  }
}
