/**
 * `webacme serve` end to end (Node, from the packed package): HTTPS in front of a tiny local app, with the
 * certificate issued by Pebble at the first handshake. Pebble's VA dials the very ports serve listens on (its
 * `tlsPort` for tls-alpn-01, `httpPort` for http-01); challtestsrv resolves every name to 127.0.0.1.
 */
import { mkdtemp } from 'node:fs/promises'
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect, type PeerCertificate } from 'node:tls'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Pebble, startPebble } from '../harness/pebble.ts'
import { type Cli, cliFor, type RunningCli } from './run-cli.ts'

interface Echo {
  method: string
  url: string
  body: string
  headers: IncomingHttpHeaders
}

/** The local app: answers every request with what it received, as JSON. */
async function startApp(): Promise<Server> {
  const app = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const echo: Echo = {
        method: req.method!,
        url: req.url!,
        body: Buffer.concat(chunks).toString('utf8'),
        headers: req.headers,
      }
      res.writeHead(201, { 'content-type': 'application/json', 'x-app': 'yes' }).end(JSON.stringify(echo))
    })
  })
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve))
  return app
}

function httpsCall(
  port: number,
  name: string,
  ca: string,
  body: string,
): Promise<{ status: number; headers: IncomingHttpHeaders; echo: Echo; peer: PeerCertificate }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        servername: name,
        ca,
        method: 'POST',
        path: '/hello?x=1',
        headers: { host: name, 'content-type': 'text/plain' },
        agent: false,
      },
      (res) => {
        const peer = (res.socket as import('node:tls').TLSSocket).getPeerCertificate()
        let text = ''
        res.setEncoding('utf8').on('data', (c: string) => (text += c))
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode!, headers: res.headers, echo: JSON.parse(text) as Echo, peer })
          } catch (err) {
            reject(err)
          }
        })
      },
    )
    req.on('error', reject)
    // Streamed in two writes: the proxy must pass the body on as it comes.
    req.write(body.slice(0, 5))
    req.end(body.slice(5))
  })
}

/** A handshake that must fail: resolves with the error. */
function failedHandshake(port: number, name: string, ca: string): Promise<Error> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername: name, ca })
    socket.once('secureConnect', () => {
      socket.destroy()
      reject(new Error(`the handshake for ${name} succeeded`))
    })
    socket.once('error', resolve)
  })
}

describe('webacme serve in node', () => {
  let pebble: Pebble
  let cli: Cli
  let app: Server
  let served: RunningCli
  let root: string
  const name = `serve-${Date.now().toString(36)}.webacme.test`

  beforeAll(async () => {
    pebble = await startPebble({ http01: 'self' })
    cli = await cliFor('node', pebble.caCertPath)
    app = await startApp()
    root = await pebble.roots(0)
  })
  afterAll(async () => {
    await served?.stop()
    app?.close()
    await pebble?.stop()
  })

  it('refuses to start without --allow, --to, --storage or --agree-tos (exit 2, nothing sent)', async () => {
    const base = ['serve', '--directory', pebble.directoryUrl, '--json']
    for (const [args, message] of [
      [['--to', 'http://127.0.0.1:1', '--storage', 'x', '--agree-tos'], '--allow'],
      [['--allow', name, '--storage', 'x', '--agree-tos'], '--to'],
      [['--allow', name, '--to', 'http://127.0.0.1:1', '--agree-tos'], '--storage'],
      [['--allow', name, '--to', 'http://127.0.0.1:1', '--storage', 'x'], '--agree-tos'],
      [['--allow', name, '--to', 'ftp://x', '--storage', 'x', '--agree-tos'], 'http: URL'],
    ] as const) {
      const r = await cli.run([...base, ...args])
      expect(r.code, r.stderr).toBe(2)
      expect((r.json!.error as { message: string }).message).toContain(message)
      expect(r.json!.requests).toBe(0)
    }
  })

  it('serves HTTPS for an allowed name with a Pebble certificate issued at the first handshake, proxied to the app', async () => {
    const storage = join(await mkdtemp(join(tmpdir(), 'webacme-serve-')), 'storage')
    served = cli.start([
      'serve',
      '--directory',
      pebble.directoryUrl,
      '--allow',
      name,
      '--allow',
      `*.sub.${name}`,
      '--to',
      `http://127.0.0.1:${(app.address() as AddressInfo).port}`,
      '--storage',
      storage,
      '--https-port',
      String(pebble.tlsPort),
      '--http-port',
      String(pebble.httpPort),
      '--listen',
      '127.0.0.1',
      '--agree-tos',
      '--json',
    ])
    await served.waitForStderr(/serving https:\/\//)

    const first = await httpsCall(pebble.tlsPort, name, root, 'hello, app')
    expect(first.status).toBe(201)
    expect(first.headers['x-app']).toBe('yes')
    expect(first.echo).toMatchObject({ method: 'POST', url: '/hello?x=1', body: 'hello, app' })
    expect(first.echo.headers).toMatchObject({
      host: name,
      'x-forwarded-for': '127.0.0.1',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': name,
    })
    // Verified against Pebble's root by `ca` (an untrusted chain would have failed the request).
    expect(first.peer.subjectaltname).toBe(`DNS:${name}`)

    // A name under the wildcard pattern gets its own certificate; the same name again is served from memory.
    const sub = `a.sub.${name}`
    const second = await httpsCall(pebble.tlsPort, sub, root, 'x'.repeat(100_000))
    expect(second.echo.body).toHaveLength(100_000)
    expect(second.peer.subjectaltname).toBe(`DNS:${sub}`)
    const again = await httpsCall(pebble.tlsPort, name, root, 'again')
    expect(again.peer.serialNumber).toBe(first.peer.serialNumber)

    // A name that is not allowed gets no certificate (and no order).
    await failedHandshake(pebble.tlsPort, `other.${name}`, root)

    // The HTTP port redirects to https.
    const redirect = await new Promise<{ status: number; location: string | undefined }>((resolve, reject) =>
      httpRequest(
        { host: '127.0.0.1', port: pebble.httpPort, path: '/page?q=1', headers: { host: name } },
        (res) => {
          res.resume()
          resolve({ status: res.statusCode!, location: res.headers.location })
        },
      )
        .on('error', reject)
        .end(),
    )
    expect([301, 308]).toContain(redirect.status)
    expect(redirect.location).toBe(`https://${name}/page?q=1`)

    const result = await served.stop()
    // The command's own exit code is in its JSON: under npx, the SIGTERM to the process group also ends npm
    // itself (the direct child), whose exit status is the signal's.
    expect(result.json, result.stderr).toMatchObject({
      ok: true,
      exitCode: 0,
      command: 'serve',
      https: pebble.tlsPort,
    })
    const stats = (result.json as { stats: { issued: number; ordersPlaced: number; refused: number } }).stats
    expect(stats.issued).toBe(2)
    expect(stats.ordersPlaced).toBe(2)
    expect(stats.refused).toBeGreaterThanOrEqual(1)
    expect(result.stderr).toContain(`${name}: issued serial`)
  })
})
