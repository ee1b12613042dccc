/**
 * webacme/fetch/node against real loopback servers (node:http, node:https, node:net): keep-alive, bodies, null
 * bodies, redirects, aborts, a body cut short, and failures classified exactly as webacme classifies Node's
 * built-in fetch. The full e2e scenario list runs with it too (test/e2e/node.test.ts, the `nodeFetch` pass).
 */
import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { type AddressInfo, createServer as createNetServer } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestCa, removeTestCa, type TestCa } from '../../test/harness/ca.ts'
import { freePort } from '../../test/harness/ports.ts'
import { AcmeNetworkError, AcmeResponseError } from '../errors.ts'
import { describeNetworkFailure } from '../lib/network-failure.ts'
import { Transport } from '../protocol/transport.ts'
import { createNodeFetch, nodeFetch } from './node-fetch.ts'

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void
  const promise = new Promise<void>((r) => {
    resolve = r
  })
  return { promise, resolve }
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void
const closers: Array<() => unknown> = []
afterAll(async () => {
  for (const close of closers) await close()
})

/** A loopback HTTP server; `connections` counts the TCP connections it accepted. */
async function serve(handler: Handler): Promise<{ url: string; server: Server; connections: () => number }> {
  const server = createServer(handler)
  let connections = 0
  server.on('connection', () => connections++)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  closers.push(() => {
    server.closeAllConnections()
    server.close()
  })
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    connections: () => connections,
  }
}

describe('requests and responses', () => {
  let base: string
  let connections: () => number
  const seen: Array<{ method: string; url: string; body: string; headers: IncomingMessage['headers'] }> = []
  beforeAll(async () => {
    const s = await serve(async (req, res) => {
      let body = ''
      for await (const chunk of req) body += chunk
      seen.push({ method: req.method ?? '', url: req.url ?? '', body, headers: req.headers })
      if (req.url === '/empty') return void res.writeHead(204).end()
      if (req.url === '/moved') return void res.writeHead(302, { location: '/target' }).end('moved')
      if (req.url === '/see-other') return void res.writeHead(303, { location: '/target' }).end()
      res.writeHead(200, {
        'content-type': 'application/json',
        'replay-nonce': 'abc',
        'set-cookie': ['a=1', 'b=2'],
      })
      res.end(JSON.stringify({ path: req.url, method: req.method }))
    })
    base = s.url
    connections = s.connections
  })

  it('GET and POST over one keep-alive connection, headers and body both ways', async () => {
    const before = connections()
    const get = await nodeFetch(`${base}/dir`)
    expect(get.status).toBe(200)
    expect(get.ok).toBe(true)
    expect(get.url).toBe(`${base}/dir`)
    expect(get.headers.get('replay-nonce')).toBe('abc')
    expect(get.headers.getSetCookie()).toEqual(['a=1', 'b=2'])
    expect(await get.json()).toEqual({ path: '/dir', method: 'GET' })
    const post = await nodeFetch(`${base}/new-order`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/jose+json', 'User-Agent': 'test' },
      body: '{"protected":"é"}',
      redirect: 'manual',
    })
    expect(await post.json()).toEqual({ path: '/new-order', method: 'POST' })
    const last = seen.at(-1)!
    expect(last.body).toBe('{"protected":"é"}')
    expect(last.headers['content-type']).toBe('application/jose+json')
    expect(last.headers['content-length']).toBe(String(Buffer.byteLength('{"protected":"é"}')))
    expect(connections() - before).toBe(1)
  })

  it('HEAD and 204 have a null body', async () => {
    const head = await nodeFetch(`${base}/nonce`, { method: 'HEAD' })
    expect(head.status).toBe(200)
    expect(head.body).toBeNull()
    expect(await head.text()).toBe('')
    const empty = await nodeFetch(`${base}/empty`)
    expect(empty.status).toBe(204)
    expect(empty.body).toBeNull()
  })

  it("redirect: 'manual' hands back the 3xx itself; 'follow' follows (303 as a GET); 'error' rejects", async () => {
    const manual = await nodeFetch(`${base}/moved`, { redirect: 'manual' })
    expect(manual.status).toBe(302)
    expect(manual.headers.get('location')).toBe('/target')
    expect(await manual.text()).toBe('moved')
    const followed = await nodeFetch(`${base}/moved`)
    expect(followed.status).toBe(200)
    expect(followed.redirected).toBe(true)
    expect(followed.url).toBe(`${base}/target`)
    const seeOther = await nodeFetch(`${base}/see-other`, { method: 'POST', body: 'x' })
    expect(await seeOther.json()).toEqual({ path: '/target', method: 'GET' })
    await expect(nodeFetch(`${base}/moved`, { redirect: 'error' })).rejects.toThrow(TypeError)
  })
})

describe('aborts', () => {
  it('an aborted signal rejects before anything is sent, with its reason', async () => {
    const s = await serve((_req, res) => res.end('never'))
    const before = s.connections()
    const reason = new Error('stop')
    await expect(nodeFetch(s.url, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason)
    expect(s.connections()).toBe(before)
  })

  it('an abort while waiting for the headers rejects and closes the connection', async () => {
    let arrived!: () => void
    const requestArrived = new Promise<void>((r) => {
      arrived = r
    })
    const s = await serve((req) => {
      arrived()
      req.socket.once('close', () => closed.resolve())
    })
    const closed = deferred()
    const controller = new AbortController()
    const pending = nodeFetch(s.url, { signal: controller.signal })
    await requestArrived
    const reason = new DOMException('stopped', 'AbortError')
    controller.abort(reason)
    await expect(pending).rejects.toBe(reason)
    await closed.promise
  })

  it('an abort mid-body errors the body read and closes the connection', async () => {
    const closed = deferred()
    const s = await serve((req, res) => {
      req.socket.once('close', () => closed.resolve())
      res.writeHead(200)
      res.write('first chunk')
    })
    const controller = new AbortController()
    const response = await nodeFetch(s.url, { signal: controller.signal })
    const reader = response.body!.getReader()
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('first chunk')
    const reason = new DOMException('stopped', 'AbortError')
    controller.abort(reason)
    await expect(reader.read()).rejects.toBe(reason)
    await closed.promise
  })
})

describe('failures are classified as with the built-in fetch', () => {
  it('a body cut short (the server destroys the socket mid-body) errors while reading, as a reset', async () => {
    const s = await serve((req, res) => {
      res.writeHead(200, { 'content-length': '1000', 'content-type': 'application/json' })
      res.write('{"status":')
      setImmediate(() => req.socket.destroy())
    })
    const response = await nodeFetch(s.url)
    expect(response.status).toBe(200)
    const err = await response.text().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TypeError)
    expect(describeNetworkFailure(err).reason).toBe('reset')
    // And through webacme's transport: a network error, reason reset.
    const transport = new Transport(`${s.url}/dir`, { fetch: nodeFetch, allowInsecure: true, retry: false })
    const viaTransport = await transport.directory().catch((e: unknown) => e)
    expect(viaTransport).toBeInstanceOf(AcmeNetworkError)
    expect((viaTransport as AcmeNetworkError).reason).toBe('reset')
  })

  it('connection refused', async () => {
    const port = await freePort()
    const err = await nodeFetch(`http://127.0.0.1:${port}/dir`).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TypeError)
    expect((err as Error).message).toBe('fetch failed')
    expect(describeNetworkFailure(err)).toMatchObject({
      reason: 'connection-refused',
      detail: `connect ECONNREFUSED 127.0.0.1:${port}`,
    })
  })

  it('a connection reset before the response', async () => {
    const s = await serve((req) => req.socket.resetAndDestroy())
    const err = await nodeFetch(s.url).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TypeError)
    expect(describeNetworkFailure(err).reason).toBe('reset')
  })

  it('a status no Response can carry is a failed fetch, not a RangeError', async () => {
    const server = createNetServer((socket) => socket.end('HTTP/1.1 600 Odd\r\ncontent-length: 0\r\n\r\n'))
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    closers.push(() => server.close())
    const err = await nodeFetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`).catch(
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(TypeError)
    expect(((err as Error).cause as Error).message).toMatch(/invalid HTTP status 600/)
  })

  it('a host name that does not resolve', async () => {
    const err = await nodeFetch('http://no-such-host.invalid/dir').catch((e: unknown) => e)
    expect(describeNetworkFailure(err).reason).toBe('dns')
  })

  describe('TLS', () => {
    let ca: TestCa
    let url: string
    beforeAll(async () => {
      ca = await createTestCa()
      closers.push(() => removeTestCa(ca))
      const server = createHttpsServer({ cert: ca.certPem, key: ca.keyPem }, (_req, res) =>
        res.end('{"ok":true}'),
      )
      server.listen(0, '127.0.0.1')
      await once(server, 'listening')
      closers.push(() => server.close())
      url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/dir`
    })

    it('an untrusted certificate is a tls failure', async () => {
      const err = await nodeFetch(url).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(TypeError)
      expect(describeNetworkFailure(err).reason).toBe('tls')
    })

    it('a private CA passed as `ca` is trusted', async () => {
      const fetch = createNodeFetch({ ca: ca.caPem })
      closers.push(() => fetch.close())
      const response = await fetch(url)
      expect(await response.json()).toEqual({ ok: true })
    })
  })
})

describe('an endless body', () => {
  it('is refused by maxResponseBytes without being buffered: the connection is closed, the server stops', async () => {
    const total = 1 << 30
    let written = 0
    const closed = deferred()
    const s = await serve((req, res) => {
      req.socket.once('close', () => closed.resolve())
      res.writeHead(200, { 'content-type': 'application/json' }) // chunked: no length declared
      const chunk = Buffer.alloc(64 * 1024, 0x20)
      const pump = () => {
        while (written < total && !res.destroyed) {
          written += chunk.length
          if (!res.write(chunk)) return void res.once('drain', pump)
        }
        res.end()
      }
      pump()
    })
    const transport = new Transport(`${s.url}/dir`, {
      fetch: nodeFetch,
      allowInsecure: true,
      retry: false,
      maxResponseBytes: 1 << 20,
    })
    const err = await transport.directory().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(AcmeResponseError)
    expect((err as AcmeResponseError).code).toBe('ERR_RESPONSE_TOO_LARGE')
    await closed.promise
    // What the server got out before the client hung up: the 1 MiB read, the stream's 64 KiB queue and the
    // kernel's socket buffers; nowhere near the gigabyte.
    expect(written).toBeLessThan(64 << 20)
  })
})
