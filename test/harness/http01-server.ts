// A tiny http-01 responder (RFC 8555 §8.3) for tests that answer challenges themselves instead of
// through challtestsrv: start Pebble with `http01: 'self'` and listen on its `httpPort`.

import { createServer } from 'node:http'

const PREFIX = '/.well-known/acme-challenge/'

export interface Http01Server {
  readonly port: number
  /** Serves `keyAuthorization` at `/.well-known/acme-challenge/<token>`. */
  set(token: string, keyAuthorization: string): void
  delete(token: string): void
  /** Number of challenge requests received (answered or not). */
  readonly requests: number
  close(): Promise<void>
}

/** Listens on `port` of `host` (default 127.0.0.1). */
export function startHttp01Server(port: number, host = '127.0.0.1'): Promise<Http01Server> {
  const responses = new Map<string, string>()
  let requests = 0
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0] ?? ''
    const token = path.startsWith(PREFIX) ? decodeURIComponent(path.slice(PREFIX.length)) : undefined
    if (token !== undefined) requests++
    const body = token === undefined || req.method !== 'GET' ? undefined : responses.get(token)
    if (body === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
      return
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end(body)
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen({ port, host, exclusive: true }, () => {
      server.off('error', reject)
      resolve({
        port,
        set: (token, keyAuthorization) => void responses.set(token, keyAuthorization),
        delete: (token) => void responses.delete(token),
        get requests() {
          return requests
        },
        close: () =>
          new Promise<void>((done, fail) => {
            server.close((err) => (err ? fail(err) : done()))
            server.closeAllConnections()
          }),
      })
    })
  })
}
