/**
 * tls-alpn-01 end to end (RFC 8737, RFC 8738 §6) against Pebble: a Node TLS server on Pebble's tlsPort speaks
 * only acme-tls/1 and serves the solver's certificate by SNI; Pebble's VA connects there for every identifier
 * (challtestsrv resolves every name to 127.0.0.1 and runs with `-tlsalpn01 ''`, so the port is ours).
 */
import type { AddressInfo } from 'node:net'
import { createSecureContext, createServer, type Server, type TLSSocket } from 'node:tls'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  ACME_TLS_ALPN_PROTOCOL,
  tlsAlpn01ServerName,
  tlsAlpn01Solver,
} from '../../src/challenges/tls-alpn-01.ts'
import { AcmeClient } from '../../src/client.ts'
import { issueCertificate } from '../../src/issue.ts'
import { generateKeyPair } from '../../src/jose/algorithms.ts'
import { type Pebble, startPebble } from '../harness/pebble.ts'

interface Handshake {
  serverName: string | undefined
  alpn: string | false
}

describe('tls-alpn-01 with Pebble', () => {
  let pebble: Pebble
  let server: Server
  const solver = tlsAlpn01Solver()
  const handshakes: Handshake[] = []
  const unknownNames: string[] = []

  beforeAll(async () => {
    pebble = await startPebble({ http01: 'self' })
    server = createServer({
      ALPNProtocols: [ACME_TLS_ALPN_PROTOCOL],
      SNICallback(serverName, done) {
        const credentials = solver.certificateFor(serverName)
        if (!credentials) {
          unknownNames.push(serverName)
          return done(new Error(`no tls-alpn-01 challenge for ${serverName}`))
        }
        done(null, createSecureContext({ cert: credentials.certificatePem, key: credentials.privateKeyPem }))
      },
    })
    server.on('secureConnection', (socket: TLSSocket) => {
      handshakes.push({ serverName: socket.servername || undefined, alpn: socket.alpnProtocol ?? false })
      socket.end() // RFC 8737 §4: acme-tls/1 carries no application data
    })
    server.on('tlsClientError', () => {}) // a refused SNI ends that handshake; unknownNames records it
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ port: pebble.tlsPort, host: '127.0.0.1', exclusive: true }, () => resolve())
    })
  })

  afterAll(async () => {
    await new Promise((resolve) => (server?.listening ? server.close(resolve) : resolve(undefined)))
    await pebble?.stop()
  })

  it('issues for a DNS name and an IP address, Pebble validating over acme-tls/1', async () => {
    expect((server.address() as AddressInfo).port).toBe(pebble.tlsPort)
    const name = `alpn-${Date.now().toString(36)}.webacme.test`
    const client = new AcmeClient({
      directoryUrl: pebble.directoryUrl,
      accountKey: await generateKeyPair('ES256'),
    })
    let issued: Awaited<ReturnType<typeof issueCertificate>>
    try {
      issued = await issueCertificate({
        client,
        account: { termsOfServiceAgreed: true },
        identifiers: [name, '127.0.0.1'],
        solvers: [solver],
      })
    } catch (err) {
      ;(err as Error).message += `\n--- pebble log tail ---\n${pebble.logs().slice(-3000)}`
      throw err
    }

    expect(issued.order.status).toBe('valid')
    expect(issued.parsed.dnsNames).toEqual([name])
    expect(issued.parsed.ipAddresses).toEqual(['127.0.0.1'])
    expect((await pebble.certStatus(issued.parsed.serialNumber)).status).toBe('valid')

    // Pebble really connected, once per identifier at least, with acme-tls/1 and the right SNI (RFC 8738 §6
    // for the IP address: 1.0.0.127.in-addr.arpa).
    for (const identifier of [name, '127.0.0.1']) {
      const serverName = tlsAlpn01ServerName(identifier)
      const matching = handshakes.filter(
        (h) => h.serverName === serverName && h.alpn === ACME_TLS_ALPN_PROTOCOL,
      )
      expect(matching.length, `acme-tls/1 handshakes for ${serverName}`).toBeGreaterThanOrEqual(1)
    }
    expect(tlsAlpn01ServerName('127.0.0.1')).toBe('1.0.0.127.in-addr.arpa')
    expect(handshakes.every((h) => h.alpn === ACME_TLS_ALPN_PROTOCOL)).toBe(true)
    expect(unknownNames).toEqual([])
    // Cleanup ran: nothing is served any more.
    expect(solver.certificateFor(name)).toBeUndefined()
    expect(solver.certificateFor('1.0.0.127.in-addr.arpa')).toBeUndefined()
  })
})
