/**
 * A static server for the built page, on 127.0.0.1 (a secure context, so WebCrypto works over plain HTTP). It
 * writes the local settings into index.html as a JSON data block (where the local Pebble and the DNS-over-HTTPS
 * front are), offers the CA certificate that Pebble's TLS chains to at `/ca.pem`, and sends a strict
 * Content-Security-Policy: the page runs no inline script and no eval.
 */
import { readFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { extname, join, normalize, sep } from 'node:path'
import type { LocalConfig } from './src/state.ts'

export interface PlaygroundServerOptions {
  /** The built page (`playground/dist`). */
  dir: string
  host?: string
  /** Default: a free port. */
  port?: number
  /** Settings written into the page. */
  local?: LocalConfig
  /** PEM served at `/ca.pem`. */
  caPem?: string
}

export interface PlaygroundServer {
  /** `http://127.0.0.1:PORT/` */
  readonly url: string
  readonly port: number
  close(): Promise<void>
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
}

/** The page's Content-Security-Policy: here, and in the `_headers` file of the build for static hosting. */
export const PAGE_CSP: string = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  // The CA and the DNS-over-HTTPS resolver are whatever the user picks.
  'connect-src *',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

/** index.html with the local settings as a JSON block (`<` escaped so the data cannot end the element). */
export function withLocalConfig(html: string, local: LocalConfig | undefined): string {
  if (!local || Object.keys(local).length === 0) return html
  const json = JSON.stringify(local).replace(/</g, '\\u003c')
  return html.replace(
    '<!--webacme-local-config-->',
    `<script type="application/json" id="webacme-local-config">${json}</script>`,
  )
}

export async function startPlaygroundServer(options: PlaygroundServerOptions): Promise<PlaygroundServer> {
  const root = normalize(options.dir)
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const send = (status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}) =>
      void res
        .writeHead(status, {
          'content-type': type,
          'cache-control': 'no-store',
          'content-security-policy': PAGE_CSP,
          'referrer-policy': 'no-referrer',
          'x-content-type-options': 'nosniff',
          ...extra,
        })
        .end(req.method === 'HEAD' ? undefined : body)
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'method not allowed\n')
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)
    if (path === '/ca.pem' && options.caPem) {
      return send(200, 'application/x-pem-file', options.caPem, {
        'content-disposition': 'attachment; filename="webacme-playground-ca.pem"',
      })
    }
    const file = normalize(join(root, path === '/' ? 'index.html' : path))
    if (!file.startsWith(root + sep)) return send(404, 'text/plain', 'not found\n')
    let body: Buffer
    try {
      body = await readFile(file)
    } catch {
      return send(404, 'text/plain', 'not found\n')
    }
    if (file === join(root, 'index.html')) {
      return send(200, TYPES['.html']!, withLocalConfig(body.toString('utf8'), options.local))
    }
    return send(200, TYPES[extname(file)] ?? 'application/octet-stream', body)
  }
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' })
      res.end(String(err))
    })
  })
  const host = options.host ?? '127.0.0.1'
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ port: options.port ?? 0, host }, () => resolve())
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://${host}:${port}/`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
