/**
 * What a TLS server on loopback presents: one handshake with SNI `name`, the chain verified up to `ca` only (as a
 * client that trusts the test CA would), and the leaf's serial number. Used to see which certificate nginx serves
 * after `webacme sync` wrote new files and reloaded it.
 */
import { connect } from 'node:tls'

/**
 * The serial number (upper-case hex) of the leaf the server on `127.0.0.1:port` presents for `name`. Rejects when
 * the chain does not verify up to `ca`, the connection fails, or no handshake completes within `timeoutMs`.
 */
export function servedSerial(port: number, name: string, ca: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername: name, ca }, () => {
      const serial = socket.getPeerCertificate().serialNumber.toUpperCase()
      socket.end()
      resolve(serial)
    })
    socket.setTimeout(timeoutMs, () =>
      socket.destroy(new Error(`no TLS handshake with ${name} in ${timeoutMs} ms`)),
    )
    socket.once('error', reject)
  })
}
