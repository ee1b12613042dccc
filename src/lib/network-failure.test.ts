import { createServer as createHttpsServer } from 'node:https'
import { createServer, type Server } from 'node:net'
import { afterAll, describe, expect, it } from 'vitest'
import { createTestCa, removeTestCa, type TestCa } from '../../test/harness/ca.ts'
import { freePorts } from '../../test/harness/ports.ts'
import { AcmeClient } from '../client.ts'
import { AcmeNetworkError } from '../errors.ts'
import { generateKeyPair } from '../jose/algorithms.ts'
import { describeNetworkFailure } from './network-failure.ts'

const servers: Server[] = []
const cas: TestCa[] = []
afterAll(async () => {
  for (const s of servers) s.close()
  for (const ca of cas) await removeTestCa(ca)
})

async function failure(directoryUrl: string): Promise<AcmeNetworkError> {
  const client = new AcmeClient({ directoryUrl, accountKey: await generateKeyPair(), retry: false })
  const err = await client.directory().catch((e: unknown) => e)
  expect(err).toBeInstanceOf(AcmeNetworkError)
  return err as AcmeNetworkError
}

describe('network failures name their root cause (real failures in Node)', () => {
  it('connection refused', async () => {
    const [port] = await freePorts(1)
    const err = await failure(`https://127.0.0.1:${port}/dir`)
    expect(err.reason).toBe('connection-refused')
    expect(err.message).toMatch(/connection-refused.*ECONNREFUSED 127\.0\.0\.1/)
    expect(err.hint).toMatch(/nothing listens/)
  })

  it('a TLS certificate this runtime does not trust, with the hint that fixes it', async () => {
    const ca = await createTestCa()
    cas.push(ca)
    const server = createHttpsServer({ cert: ca.certPem, key: ca.keyPem }, (_req, res) => res.end('{}'))
    servers.push(server as unknown as Server)
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const { port } = server.address() as { port: number }
    const err = await failure(`https://127.0.0.1:${port}/dir`)
    expect(err.reason).toBe('tls')
    expect(err.message).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|unable to verify/)
    expect(err.hint).toMatch(/NODE_EXTRA_CA_CERTS.*--cert/)
  })

  it('a connection reset by the peer', async () => {
    const server = createServer((socket) => socket.resetAndDestroy())
    servers.push(server)
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const { port } = server.address() as { port: number }
    const err = await failure(`https://127.0.0.1:${port}/dir`)
    expect(err.reason).toBe('reset')
  })
})

describe('describeNetworkFailure reads each runtime’s wording', () => {
  it.each([
    // Deno
    [
      new TypeError(
        'error sending request for url (https://127.0.0.1:1/dir): client error (Connect): tcp connect error: Connection refused (os error 111)',
      ),
      'connection-refused',
    ],
    [
      new TypeError(
        'error sending request for url (https://127.0.0.1:9/dir): client error (Connect): invalid peer certificate: UnknownIssuer',
      ),
      'tls',
    ],
    [
      new TypeError(
        'error sending request for url (https://x.invalid/): client error (Connect): dns error: failed to lookup address information: Name or service not known',
      ),
      'dns',
    ],
    // Bun
    [
      Object.assign(new Error('Unable to connect. Is the computer able to access the url?'), {
        code: 'ConnectionRefused',
      }),
      'connection-refused',
    ],
    [
      Object.assign(new Error('unable to verify the first certificate'), {
        code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      }),
      'tls',
    ],
    // Node (undici)
    [
      new TypeError('fetch failed', {
        cause: Object.assign(new Error('getaddrinfo ENOTFOUND x.invalid'), { code: 'ENOTFOUND' }),
      }),
      'dns',
    ],
    [
      new TypeError('terminated', {
        cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }),
      }),
      'reset',
    ],
    // workerd
    [new Error('Network connection lost.'), 'reset'],
    // browsers tell nothing
    [new TypeError('Failed to fetch'), 'unknown'],
  ])('%s → %s', (error, reason) => {
    expect(describeNetworkFailure(error).reason).toBe(reason)
  })

  it('keeps the most specific text of the chain', () => {
    const err = new TypeError('fetch failed', {
      cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
    })
    expect(describeNetworkFailure(err).detail).toBe('connect ECONNREFUSED 127.0.0.1:1')
  })
})
