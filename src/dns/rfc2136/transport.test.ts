// Both transports (node:net, and streamTransport over Web streams as Workers' connect() gives them) against a TCP
// server that misbehaves on purpose: a cut answer, a close without answer, silence, a refused connection, an answer
// dribbled byte by byte. Each must end in a typed error or the abort reason, never a hang.
import { connect, createServer, type Server, type Socket } from 'node:net'
import { Duplex } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { freePort } from '../../../test/harness/ports.ts'
import { DnsUpdateError } from './errors.ts'
import { nodeTcpTransport } from './node-transport.ts'
import {
  DnsFrameReader,
  type DnsTransport,
  frameMessage,
  type StreamSocketLike,
  streamTransport,
} from './transport.ts'

const servers: Server[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))))
})

/** A server that calls `onRequest` with each connection once a whole framed request arrived. */
async function faultServer(onRequest: (socket: Socket, request: Uint8Array) => void): Promise<number> {
  const server = createServer((socket) => {
    const frames = new DnsFrameReader()
    socket.on('data', (chunk) => {
      const request = frames.push(new Uint8Array(chunk))
      if (request) onRequest(socket, request)
    })
    socket.on('error', () => {})
  })
  servers.push(server)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return (server.address() as { port: number }).port
}

const transports: Record<string, (port: number, timeout?: number) => DnsTransport> = {
  'node:net': (port, timeout) => nodeTcpTransport({ host: '127.0.0.1', port, ...(timeout && { timeout }) }),
  'Web streams': (port, timeout) =>
    streamTransport(
      () => {
        const socket = connect({ host: '127.0.0.1', port })
        socket.on('error', () => {})
        const { readable, writable } = Duplex.toWeb(socket)
        return {
          readable: readable as unknown as StreamSocketLike['readable'],
          writable: writable as unknown as StreamSocketLike['writable'],
          close: () => socket.destroy(),
        }
      },
      { server: `127.0.0.1:${port}`, ...(timeout && { timeout }) },
    ),
}

const REQUEST = new Uint8Array([1, 2, 3, 4, 5])

describe.each(Object.keys(transports))('%s transport', (kind) => {
  const make = transports[kind]!

  it('frames the request and returns the answer, even dribbled one byte at a time', async () => {
    const port = await faultServer((socket, request) => {
      expect([...request]).toEqual([...REQUEST])
      const framed = frameMessage(new Uint8Array([9, 8, 7]))
      let i = 0
      const next = () => (i < framed.length ? socket.write(framed.subarray(i, ++i), next) : undefined)
      next()
    })
    expect([...(await make(port)(REQUEST, {}))]).toEqual([9, 8, 7])
  })

  it('a cut answer is a DnsUpdateError saying how much came', async () => {
    const port = await faultServer((socket) => {
      socket.end(new Uint8Array([0, 100, ...new Array(10).fill(1)]))
    })
    const err = await make(port)(REQUEST, {}).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(DnsUpdateError)
    expect(err).toMatchObject({ code: 'ERR_DNS_PROVIDER', server: `127.0.0.1:${port}` })
    expect((err as Error).message).toContain('after 10 of 100 bytes')
  })

  it('a close without an answer is a DnsUpdateError', async () => {
    const port = await faultServer((socket) => socket.end())
    const err = await make(port)(REQUEST, {}).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'ERR_DNS_PROVIDER' })
    expect((err as Error).message).toContain('without answering')
  })

  it('silence ends at the timeout with a DnsUpdateError', async () => {
    const port = await faultServer(() => {})
    const err = await make(port, 300)(REQUEST, {}).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'ERR_DNS_PROVIDER' })
    expect((err as Error).message).toContain('no answer within 300 ms')
  })

  it('an abort while waiting rejects with its reason and closes the connection', async () => {
    const controller = new AbortController()
    const reason = new Error('stop')
    let closed: Promise<void> | undefined
    const port = await faultServer((socket) => {
      closed = new Promise((r) => socket.once('close', () => r()))
      controller.abort(reason)
    })
    await expect(make(port)(REQUEST, { signal: controller.signal })).rejects.toBe(reason)
    await closed
  })

  it('a refused connection is a DnsUpdateError', async () => {
    const port = await freePort()
    const err = await make(port)(REQUEST, {}).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(DnsUpdateError)
    expect((err as Error).message).toMatch(/connection failed|closed the connection/)
  })
})

describe('DNS over TCP framing (RFC 1035 §4.2.2)', () => {
  it('prefixes the length and reassembles across chunks', () => {
    const framed = frameMessage(new Uint8Array(300).fill(7))
    expect([framed[0], framed[1], framed.length]).toEqual([1, 44, 302])
    const reader = new DnsFrameReader()
    expect(reader.push(framed.subarray(0, 1))).toBeUndefined()
    expect(reader.shortfall()).toContain('inside the length prefix')
    expect(reader.push(framed.subarray(1, 100))).toBeUndefined()
    expect(reader.expected).toBe(302)
    expect(reader.push(framed.subarray(100))).toHaveLength(300)
    expect(() => frameMessage(new Uint8Array(65536))).toThrow(RangeError)
  })
})
