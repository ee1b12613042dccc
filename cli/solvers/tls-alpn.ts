/**
 * `--tls-alpn-port N [--tls-alpn-host H]`: a TLS server that speaks only `acme-tls/1` and presents the library's
 * tls-alpn-01 certificates (RFC 8737), chosen by SNI. The CA connects to port 443 of each name: forward 443 here.
 */
import { createSecureContext, createServer, type Server } from 'node:tls'
import { ACME_TLS_ALPN_PROTOCOL, type TlsAlpn01Solver, tlsAlpn01Solver } from 'webacme'
import { listenError, UsageError } from '../exit-codes.ts'

export interface StandaloneTlsAlpn01 {
  solver: TlsAlpn01Solver
  address: string
  close(): Promise<void>
}

export async function startTlsAlpn01Server(
  port: number,
  host: string | undefined,
): Promise<StandaloneTlsAlpn01> {
  // Deno's node:tls server takes no SNICallback (the CA's handshake fails): refuse before any request is sent,
  // rather than spend a failed validation against the CA's limits.
  if ('Deno' in globalThis) {
    throw new UsageError(
      '--tls-alpn-port needs a TLS server that picks its certificate by SNI, which Deno does not offer: run it with Node or Bun, or use --http-port or --dns',
    )
  }
  const solver = tlsAlpn01Solver()
  const server: Server = createServer({
    ALPNProtocols: [ACME_TLS_ALPN_PROTOCOL],
    SNICallback(serverName, done) {
      const credentials = solver.certificateFor(serverName)
      if (!credentials) return done(new Error(`no tls-alpn-01 challenge for ${serverName}`))
      done(null, createSecureContext({ cert: credentials.certificatePem, key: credentials.privateKeyPem }))
    },
  })
  // acme-tls/1 carries no data (RFC 8737 §4): the handshake is the answer.
  server.on('secureConnection', (socket) => socket.end())
  server.on('tlsClientError', () => {})
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(listenError('tls-alpn-01', '--tls-alpn-port', host, port, err)))
    if (host === undefined) server.listen(port, () => resolve())
    else server.listen(port, host, () => resolve())
  })
  return {
    solver,
    address: `tls://${host ?? '*'}:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
