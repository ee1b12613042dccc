/** `--http-port N [--http-host H]`: a standalone HTTP server that answers http-01 with the library's solver. */
import { createServer, type Server } from 'node:http'
import { type Http01Solver, http01Solver } from 'webacme'
import { listenError } from '../exit-codes.ts'

export interface StandaloneHttp01 {
  solver: Http01Solver
  /** The address it listens on, for messages. */
  address: string
  close(): Promise<void>
}

/** Listens on `port` (every interface, unless `host` names one) until `close()`. */
export async function startHttp01Server(port: number, host: string | undefined): Promise<StandaloneHttp01> {
  const solver = http01Solver()
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end()
      return
    }
    solver.lookup(path).then(
      (body) => {
        if (body === undefined) res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
        else
          res
            .writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' })
            .end(req.method === 'HEAD' ? undefined : body)
      },
      () => res.writeHead(500).end(),
    )
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(listenError('http-01', '--http-port', host, port, err)))
    if (host === undefined) server.listen(port, () => resolve())
    else server.listen(port, host, () => resolve())
  })
  return {
    solver,
    address: `http://${host ?? '*'}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections?.()
      }),
  }
}
