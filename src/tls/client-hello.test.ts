import type { AddressInfo } from 'node:net'
import { createServer } from 'node:net'
import { connect } from 'node:tls'
import { describe, expect, it } from 'vitest'
import { clientHelloLength, parseClientHello } from './client-hello.ts'

/** The first bytes a real node:tls client sends. */
function captureHello(options: { servername?: string; ALPNProtocols?: string[] }): Promise<Uint8Array> {
  return new Promise((resolve) => {
    const server = createServer((socket) => {
      const chunks: Buffer[] = []
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk)
        const bytes = Buffer.concat(chunks)
        const needed = clientHelloLength(bytes)
        if (typeof needed === 'number' && bytes.length >= needed) {
          socket.destroy()
          server.close()
          resolve(bytes)
        }
      })
    })
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as AddressInfo).port
      connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...options }).on('error', () => {})
    })
  })
}

describe('parseClientHello', () => {
  it('reads SNI and ALPN from a real ClientHello', async () => {
    expect(
      parseClientHello(await captureHello({ servername: 'a.example.com', ALPNProtocols: ['acme-tls/1'] })),
    ).toEqual({
      serverName: 'a.example.com',
      alpn: ['acme-tls/1'],
    })
    expect(
      parseClientHello(await captureHello({ servername: 'b.example', ALPNProtocols: ['h2', 'http/1.1'] })),
    ).toEqual({
      serverName: 'b.example',
      alpn: ['h2', 'http/1.1'],
    })
    expect(parseClientHello(await captureHello({}))).toEqual({ serverName: undefined, alpn: [] })
  })

  it('tells what is not TLS, waits for the whole record, and survives garbage', async () => {
    expect(clientHelloLength(new TextEncoder().encode('GET / HTTP/1.1\r\n'))).toBe('not-tls')
    expect(clientHelloLength(new Uint8Array([0x16, 3, 1]))).toBeUndefined()
    const hello = await captureHello({ servername: 'c.example' })
    expect(parseClientHello(hello.subarray(0, hello.length - 1))).toBeUndefined()
    // Every truncation and a corrupted extension length: no throw, and never a wrong name.
    for (let cut = 5; cut < hello.length; cut += 7) {
      const broken = new Uint8Array(hello)
      broken[3] = (cut - 5) >> 8
      broken[4] = (cut - 5) & 0xff
      const parsed = parseClientHello(broken.subarray(0, cut))
      expect(
        parsed === undefined || parsed.serverName === undefined || parsed.serverName === 'c.example',
      ).toBe(true)
    }
  })
})
