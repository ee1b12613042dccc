/**
 * The RFC 2136 adapter inside workerd, as a Worker runs it: streamTransport() over `connect()` from
 * cloudflare:sockets, against the real BIND 9 that test/cloudflare/global-setup.ts starts. What was written is read
 * back from BIND over the same kind of socket (an unsigned TXT query).
 */
import { connect } from 'cloudflare:sockets'
import { describe, expect, inject, it } from 'vitest'
import { DNS_TYPES, decodeDnsMessage } from '../message.ts'
import { rfc2136Adapter, streamTransport } from '../providers/rfc2136.ts'
import { encodeQuery } from './wire.ts'

const bind = inject('bind')
const transport = streamTransport(() => connect({ hostname: '127.0.0.1', port: bind.port }), {
  server: `127.0.0.1:${bind.port}`,
})

async function txt(name: string): Promise<string[]> {
  const answer = decodeDnsMessage(await transport(encodeQuery(7, name, DNS_TYPES.TXT), {}))
  return answer.answers.map((r) => (r.data as string[]).join('')).sort()
}

describe('rfc2136Adapter in workerd (connect() from cloudflare:sockets)', () => {
  it('adds two values at one name, removes one, then the other; TSIG checked both ways', async () => {
    const adapter = rfc2136Adapter({ transport, tsig: bind.key })
    const name = `_acme-challenge.${bind.zone}`
    await Promise.all([adapter.createTxt(name, 'value-one'), adapter.createTxt(name, 'value-two')])
    expect(await txt(name)).toEqual(['value-one', 'value-two'])
    await adapter.removeTxt(name, 'value-one')
    expect(await txt(name)).toEqual(['value-two'])
    await adapter.removeTxt(name, 'value-two')
    expect(await txt(name)).toEqual([])
  })

  it('a wrong secret is ERR_DNS_AUTH with BADSIG', async () => {
    const adapter = rfc2136Adapter({ transport, tsig: { ...bind.key, secret: 'd3Jvbmcgc2VjcmV0' } })
    await expect(adapter.createTxt(`_acme-challenge.${bind.zone}`, 'x')).rejects.toMatchObject({
      code: 'ERR_DNS_AUTH',
      rcode: 'NOTAUTH',
      tsigError: 'BADSIG',
    })
  })
})
