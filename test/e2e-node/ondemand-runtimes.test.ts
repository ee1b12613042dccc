/**
 * webacme/tls in Bun and Deno, against Pebble, checked from Node with real TLS clients (`node:tls` `connect` with
 * `servername`, verifying Pebble's chain and the name):
 *
 * - Bun: its `node:tls` server calls SNICallback, so on-demand issuance works as in Node, tls-alpn-01 answered by
 *   `manager.listener(server)` on the same port; `Bun.serve` takes static certificates: `ensure`, then
 *   `server.reload` with the renewed certificate.
 * - Deno: no per-handshake hook (`Deno.serve` takes one certificate; Deno's `node:tls` has no SNICallback):
 *   `ensure` over http-01 (`fetchHandler` in `Deno.serve` on the http port), `Deno.serve` with that certificate,
 *   restarted with the renewed one.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { childRegistry } from '../harness/children.ts'
import { type Pebble, startPebble } from '../harness/pebble.ts'
import { bunBinary } from '../runtimes/bun/launch.ts'
import { denoBinary } from '../runtimes/deno/launch.ts'
import { Child, comparableSerial, handshake } from './ondemand/helpers.ts'

const DOMAIN = `rt-${Date.now().toString(36)}.webacme.test`
const script = (name: string) => fileURLToPath(new URL(`./ondemand/${name}`, import.meta.url))

/**
 * A Pebble, and beside it one server script in another runtime, spawned by `start` (its environment without the
 * machine's preset CA bundles, trusting only what it is given) and driven over stdin/stdout; after the suite it is
 * told to close and awaited, then Pebble stops.
 */
function runtimeServer(
  start: (pebble: Pebble) => { binary: string; args: string[]; env: Record<string, string> },
) {
  const suite = {} as { pebble: Pebble; root: string; child: Child }
  beforeAll(async () => {
    suite.pebble = await startPebble({ http01: 'self', authzReusePercent: 0 })
    suite.root = await suite.pebble.roots(0)
    const { binary, args, env } = start(suite.pebble)
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env }
    delete childEnv.SSL_CERT_FILE
    delete childEnv.SSL_CERT_DIR
    const proc = spawn(binary, args, { env: childEnv, stdio: ['pipe', 'pipe', 'pipe'] })
    childRegistry('ondemand-runtimes').children.add(proc)
    suite.child = new Child(proc)
  })
  afterAll(async () => {
    if (suite.child) {
      suite.child.process.stdin.end('close\n')
      await new Promise((resolve) => suite.child.process.once('exit', resolve))
    }
    await suite.pebble?.stop()
  })
  return suite
}

describe('webacme/tls in Bun', () => {
  const suite = runtimeServer((pebble) => ({
    binary: bunBinary(),
    args: ['run', script('bun-server.ts')],
    env: {
      NODE_EXTRA_CA_CERTS: pebble.caCertPath,
      DIRECTORY_URL: pebble.directoryUrl,
      DOMAIN,
      TLS_PORT: String(pebble.tlsPort),
    },
  }))

  it('node:tls server with SNICallback: issues at the first handshake, tls-alpn-01 on the same port', async () => {
    const { pebble, root, child } = suite
    const port = Number(await child.next('READY-TLS'))
    const name = `bun-sni.${DOMAIN}`
    const peer = await handshake(port, name, root)
    expect(peer).toMatchObject({ authorized: true, subjectAltName: `DNS:${name}` })
    expect((await pebble.certStatus(peer.serialNumber)).status).toBe('valid')
    expect((await handshake(port, name, root)).serialNumber).toBe(peer.serialNumber)
    await expect(handshake(port, 'not-allowed.example', root)).rejects.toThrow()
  })

  it('Bun.serve with a static certificate from ensure(), restarted with the renewed one', async () => {
    const { root, child } = suite
    const port = Number(await child.next('READY-BUN'))
    const name = `bun-static.${DOMAIN}`
    const before = await handshake(port, name, root)
    expect(before).toMatchObject({ authorized: true, subjectAltName: `DNS:${name}` })
    child.process.stdin.write('renew\n')
    const serial = comparableSerial(await child.next('RELOADED'))
    expect(serial).not.toBe(before.serialNumber)
    const after = await handshake(port, name, root)
    expect(after.serialNumber).toBe(serial)
  })
})

describe('webacme/tls in Deno', () => {
  const suite = runtimeServer((pebble) => ({
    binary: denoBinary(),
    args: [
      'run',
      '--no-prompt',
      '--allow-net=127.0.0.1',
      '--allow-env',
      '--cert',
      pebble.caCertPath,
      script('deno-server.ts'),
    ],
    env: {
      DENO_NO_UPDATE_CHECK: '1',
      DIRECTORY_URL: pebble.directoryUrl,
      DOMAIN,
      HTTP_PORT: String(pebble.httpPort),
    },
  }))

  it('Deno.serve with a certificate from ensure() (http-01 via fetchHandler), restarted on renewal', async () => {
    const { root, child } = suite
    const port = Number(await child.next('READY'))
    const name = `deno.${DOMAIN}`
    const before = await handshake(port, name, root)
    expect(before).toMatchObject({ authorized: true, subjectAltName: `DNS:${name}` })
    child.process.stdin.write('renew\n')
    const [restartedPort, rawSerial] = (await child.next('RESTARTED')).split(' ')
    expect(Number(restartedPort)).toBe(port)
    const serial = comparableSerial(rawSerial!)
    expect(serial).not.toBe(before.serialNumber)
    expect((await handshake(port, name, root)).serialNumber).toBe(serial)
  })
})
