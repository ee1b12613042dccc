// rfc2136Adapter against REAL servers: BIND 9 (named) and Knot DNS (knotd), each started by its harness on a free
// loopback port with one TSIG key per algorithm. What the adapter writes is read back with dig (BIND) and kdig
// (Knot), i.e. as any resolver sees it. The same tests run against both servers, through the node:net transport and
// through streamTransport() over Web streams (the shape of Workers' connect()).
import { connect } from 'node:net'
import { Duplex } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adapterContract } from '../../../test/fixtures/dns/adapter-contract.ts'
import type { AuthoritativeServer, TestTsigAlgorithm } from '../../../test/harness/authoritative.ts'
import { startBind } from '../../../test/harness/bind.ts'
import { startKnot } from '../../../test/harness/knot.ts'
import { nodeTcpTransport } from '../rfc2136/node-transport.ts'
import { scanResponse } from '../rfc2136/wire.ts'
import {
  type DnsTransport,
  DnsUpdateError,
  rfc2136Adapter,
  type StreamSocketLike,
  streamTransport,
} from './rfc2136.ts'

const V1 = 'LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0'
const V2 = 'Y5p8sOSoqXdUGlUSWJaqq7jSPcvOTz2BKpq6MKOK6Cg'

const ZONES = ['example.test', 'c1.test', 'c2.test', 'c3.test', 'c4.test']

const servers: Record<'bind' | 'knot', AuthoritativeServer | undefined> = { bind: undefined, knot: undefined }

beforeAll(async () => {
  ;[servers.bind, servers.knot] = await Promise.all([
    startBind({ zones: ZONES, readOnlyZones: ['readonly.test'] }),
    startKnot({ zones: ZONES, readOnlyZones: ['readonly.test'] }),
  ])
})
afterAll(async () => {
  await Promise.all([servers.bind?.stop(), servers.knot?.stop()])
})

/** streamTransport over a node:net socket seen through Web streams, as Workers' connect() gives one. */
function webStreamTransport(port: number): DnsTransport {
  return streamTransport(
    () => {
      const socket = connect({ host: '127.0.0.1', port })
      const { readable, writable } = Duplex.toWeb(socket)
      return {
        readable: readable as unknown as StreamSocketLike['readable'],
        writable: writable as unknown as StreamSocketLike['writable'],
        close: () => socket.destroy(),
      }
    },
    { server: `127.0.0.1:${port}` },
  )
}

/** A transport that counts exchanges and can rewrite answers. */
function counted(inner: DnsTransport, rewrite: (answer: Uint8Array) => Uint8Array = (a) => a) {
  const state = { count: 0 }
  const transport: DnsTransport = async (message, options) => {
    state.count++
    return rewrite(await inner(message, options))
  }
  return { transport, state }
}

async function failure(promise: Promise<unknown>): Promise<DnsUpdateError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(DnsUpdateError)
  return err as DnsUpdateError
}

describe.each(['bind', 'knot'] as const)('rfc2136Adapter against %s', (kind) => {
  const server = () => servers[kind]!
  const adapter = (algorithm: TestTsigAlgorithm = 'hmac-sha256', extra: { zone?: string } = {}) =>
    rfc2136Adapter({
      transport: nodeTcpTransport({ host: '127.0.0.1', port: server().port }),
      tsig: server().keys[algorithm],
      ...extra,
    })

  describe('DnsAdapter contract, hmac-sha256 over node:net', () => {
    adapterContract(async () => {
      const { transport, state } = counted(nodeTcpTransport({ host: '127.0.0.1', port: server().port }))
      return {
        adapter: rfc2136Adapter({ transport, tsig: server().keys['hmac-sha256'] }),
        zone: 'c1.test',
        values: (name) => server().txt(name),
        requestCount: () => state.count,
      }
    })
  })

  describe('DnsAdapter contract, hmac-sha512 over Web streams (streamTransport)', () => {
    adapterContract(async () => {
      const { transport, state } = counted(webStreamTransport(server().port))
      return {
        adapter: rfc2136Adapter({ transport, tsig: server().keys['hmac-sha512'] }),
        zone: 'c2.test',
        values: (name) => server().txt(name),
        requestCount: () => state.count,
      }
    })
  })

  it('publishes a value dig sees, then removes it: present, cleanup', async () => {
    const name = '_acme-challenge.present.example.test'
    const a = adapter()
    await a.createTxt(name, V1)
    expect(await server().txt(name)).toEqual([V1])
    await a.removeTxt(name, V1)
    expect(await server().txt(name)).toEqual([])
  })

  it('holds an apex and its wildcard at one name at once; removing one leaves the other', async () => {
    const name = '_acme-challenge.example.test'
    const a = adapter('hmac-sha512', { zone: 'example.test' })
    await Promise.all([a.createTxt(name, V1), a.createTxt(name, V2)])
    expect(await server().txt(name)).toEqual([V1, V2].sort())
    await a.removeTxt(name, V1)
    expect(await server().txt(name)).toEqual([V2])
    await a.removeTxt(name, V2)
    expect(await server().txt(name)).toEqual([])
  })

  it('writes a value longer than 255 bytes, with quotes and non-ASCII, as character-strings dig reads back whole', async () => {
    const name = '_acme-challenge.long.c3.test'
    const value = `${'x'.repeat(300)} "quoted" \\ é`
    const a = adapter()
    await a.createTxt(name, value)
    expect(await server().txt(name)).toEqual([value])
    await a.removeTxt(name, value)
    expect(await server().txt(name)).toEqual([])
  })

  it.each(['hmac-sha384', 'hmac-sha1'] as const)('signs with %s too', async (algorithm) => {
    const name = `_acme-challenge.${algorithm}.c3.test`
    const a = adapter(algorithm)
    await a.createTxt(name, V1)
    expect(await server().txt(name)).toEqual([V1])
    await a.removeTxt(name, V1)
    expect(await server().txt(name)).toEqual([])
  })

  it('a wrong secret: ERR_DNS_AUTH, NOTAUTH and BADSIG from the server', async () => {
    const key = server().keys['hmac-sha256']
    const a = rfc2136Adapter({
      transport: nodeTcpTransport({ host: '127.0.0.1', port: server().port }),
      tsig: { ...key, secret: 'd3Jvbmcgc2VjcmV0IGJ1dCB2YWxpZCBiYXNlNjQ=' },
      zone: 'example.test',
    })
    const err = await failure(a.createTxt('_acme-challenge.wrong.example.test', V1))
    expect(err).toMatchObject({
      code: 'ERR_DNS_AUTH',
      rcode: 'NOTAUTH',
      tsigError: 'BADSIG',
      provider: 'rfc2136',
    })
    expect(err.message).toMatch(/could not verify our signature/)
    expect(await server().txt('_acme-challenge.wrong.example.test')).toEqual([])
  })

  it('a key the server does not know: ERR_DNS_AUTH, NOTAUTH and BADKEY (also while finding the zone)', async () => {
    const key = server().keys['hmac-sha256']
    const a = rfc2136Adapter({
      transport: nodeTcpTransport({ host: '127.0.0.1', port: server().port }),
      tsig: { ...key, name: 'nobody-knows-me' },
    })
    const err = await failure(a.createTxt('_acme-challenge.example.test', V1))
    expect(err).toMatchObject({ code: 'ERR_DNS_AUTH', rcode: 'NOTAUTH', tsigError: 'BADKEY' })
    expect(err.message).toContain('does not know the TSIG key "nobody-knows-me"')
  })

  it("a clock an hour off: ERR_DNS_AUTH with BADTIME and the server's time", async () => {
    const a = rfc2136Adapter({
      transport: nodeTcpTransport({ host: '127.0.0.1', port: server().port }),
      tsig: server().keys['hmac-sha256'],
      zone: 'example.test',
      clock: () => Date.now() - 3_600_000,
    })
    const err = await failure(a.createTxt('_acme-challenge.time.example.test', V1))
    expect(err).toMatchObject({ code: 'ERR_DNS_AUTH', rcode: 'NOTAUTH', tsigError: 'BADTIME' })
    expect(err.message).toMatch(/clock .* differ by more than the fudge/)
  })

  it('a zone the server does not serve: ERR_DNS_NOT_FOUND (NOTAUTH when given, no SOA when searched)', async () => {
    const given = await failure(
      adapter('hmac-sha256', { zone: 'elsewhere.test' }).createTxt('_acme-challenge.elsewhere.test', V1),
    )
    expect(given).toMatchObject({ code: 'ERR_DNS_NOT_FOUND', rcode: 'NOTAUTH', tsigError: undefined })
    expect(given.message).toContain('not authoritative for elsewhere.test')
    const searched = await adapter()
      .createTxt('_acme-challenge.elsewhere.test', V1)
      .catch((e: unknown) => e)
    expect(searched).toMatchObject({ code: 'ERR_DNS_NOT_FOUND', provider: 'rfc2136' })
  })

  it('a zone the key may not update: ERR_DNS_AUTH (BIND: REFUSED by its policy; Knot: BADKEY, no ACL for it)', async () => {
    const err = await failure(adapter().createTxt('_acme-challenge.readonly.test', V1))
    expect(err).toMatchObject(
      kind === 'bind'
        ? { code: 'ERR_DNS_AUTH', rcode: 'REFUSED', tsigError: undefined }
        : { code: 'ERR_DNS_AUTH', rcode: 'NOTAUTH', tsigError: 'BADKEY' },
    )
    expect(await server().txt('_acme-challenge.readonly.test')).toEqual([])
  })

  it('a name outside the given zone: ERR_DNS_NOT_FOUND with NOTZONE', async () => {
    const err = await failure(
      adapter('hmac-sha256', { zone: 'example.test' }).createTxt('_acme-challenge.c4.test', V1),
    )
    expect(err).toMatchObject({ code: 'ERR_DNS_NOT_FOUND', rcode: 'NOTZONE' })
  })

  it('a CNAME at the name: ERR_DNS_CONFLICT (YXRRSET), where the server alone would ignore the TXT', async () => {
    const name = '_acme-challenge.cname.example.test'
    const err = await failure(adapter().createTxt(name, V1))
    expect(err).toMatchObject({ code: 'ERR_DNS_CONFLICT', rcode: 'YXRRSET' })
    expect(await server().query(name, 'CNAME')).toEqual(['_acme-challenge.example.test.'])
  })

  it('an answer whose MAC was altered: ERR_DNS_AUTH (BADSIG on our side)', async () => {
    const { transport } = counted(nodeTcpTransport({ host: '127.0.0.1', port: server().port }), (answer) => {
      const copy = answer.slice()
      const tsig = scanResponse(copy).lastAdditional!
      // The MAC sits in the middle of the TSIG RDATA: flip a byte there.
      copy[tsig.rdataOffset + 30] = copy[tsig.rdataOffset + 30]! ^ 0xff
      return copy
    })
    const a = rfc2136Adapter({ transport, tsig: server().keys['hmac-sha256'], zone: 'c4.test' })
    const err = await failure(a.createTxt('_acme-challenge.tamper.c4.test', V1))
    expect(err).toMatchObject({ code: 'ERR_DNS_AUTH', tsigError: 'BADSIG', rcode: 'NOERROR' })
    expect(err.message).toContain('does not verify')
    await adapter().removeTxt('_acme-challenge.tamper.c4.test', V1)
  })

  it('an answer stripped of its TSIG: ERR_DNS_AUTH (an unsigned success proves nothing)', async () => {
    const { transport } = counted(nodeTcpTransport({ host: '127.0.0.1', port: server().port }), (answer) => {
      const layout = scanResponse(answer)
      const copy = answer.slice(0, layout.lastAdditional!.offset)
      copy[11] = copy[11]! - 1
      return copy
    })
    const a = rfc2136Adapter({ transport, tsig: server().keys['hmac-sha256'], zone: 'c4.test' })
    const err = await failure(a.createTxt('_acme-challenge.unsigned.c4.test', V1))
    expect(err).toMatchObject({ code: 'ERR_DNS_AUTH', rcode: 'NOERROR', tsigError: undefined })
    expect(err.message).toContain('not signed')
    await adapter().removeTxt('_acme-challenge.unsigned.c4.test', V1)
  })
})
