/**
 * dns-01 end to end over RFC 2136: BIND 9 and Knot DNS are each, in turn, the authoritative server for
 * `example.test` AND Pebble's `-dnsserver`, so Pebble validates the TXT records that rfc2136Adapter() really wrote
 * there with TSIG-signed UPDATEs (no challtestsrv). One certificate for `example.test` and `*.example.test`: both
 * challenges write `_acme-challenge.example.test`, so both values must live there at once; afterwards none is left.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { dns01Solver } from '../../src/challenges/dns-01.ts'
import { AcmeClient } from '../../src/client.ts'
import type { DnsAdapter } from '../../src/dns/adapter.ts'
import { rfc2136Adapter } from '../../src/dns/providers/rfc2136.ts'
import { nodeTcpTransport } from '../../src/dns/rfc2136/node-transport.ts'
import { issueCertificate } from '../../src/issue.ts'
import { generateKeyPair } from '../../src/jose/algorithms.ts'
import { type AuthoritativeServer, startPebbleOn } from '../harness/authoritative.ts'
import { startBind } from '../harness/bind.ts'
import { startKnot } from '../harness/knot.ts'
import type { Pebble } from '../harness/pebble.ts'

const ZONE = 'example.test'

describe.each([
  ['BIND 9', startBind, 'hmac-sha256'],
  ['Knot DNS', startKnot, 'hmac-sha512'],
] as const)('dns-01 through %s (RFC 2136 + TSIG); Pebble resolves through it', (_, start, algorithm) => {
  let dns: AuthoritativeServer
  let pebble: Pebble
  let client: AcmeClient

  beforeAll(async () => {
    ;({ dns, pebble } = await startPebbleOn(() => start({ zones: [ZONE] })))
    client = new AcmeClient({ directoryUrl: pebble.directoryUrl, accountKey: await generateKeyPair() })
    await client.createAccount({ termsOfServiceAgreed: true })
  })
  afterAll(async () => {
    await pebble?.stop()
    await dns?.stop()
  })

  it(`issues for ${ZONE} and *.${ZONE} (${algorithm}): two values at one name, both removed after`, async () => {
    const inner = rfc2136Adapter({
      transport: nodeTcpTransport({ host: '127.0.0.1', port: dns.port }),
      tsig: dns.keys[algorithm],
    })
    // What the server answers (dig/kdig) right after each create and remove.
    const seen: Array<{ op: string; name: string; values: string[] }> = []
    const adapter: DnsAdapter = {
      name: inner.name,
      async createTxt(name, value, options) {
        await inner.createTxt(name, value, options)
        seen.push({ op: 'create', name, values: await dns.txt(name) })
      },
      async removeTxt(name, value, options) {
        await inner.removeTxt(name, value, options)
        seen.push({ op: 'remove', name, values: await dns.txt(name) })
      },
    }
    const { parsed } = await issueCertificate({
      client,
      account: { termsOfServiceAgreed: true },
      identifiers: [ZONE, `*.${ZONE}`],
      // No resolver: the server we update is the one Pebble asks, so there is nothing to wait for.
      solvers: [dns01Solver({ adapter })],
      poll: { interval: 200 },
    })
    expect([...parsed.dnsNames].sort()).toEqual([`*.${ZONE}`, ZONE])

    const name = `_acme-challenge.${ZONE}`
    // The two authorizations are solved concurrently: each create and each remove happened once, and after the
    // creates (the cleanup comes only after both were validated) the server held both values at the one name.
    expect(seen.filter((s) => s.op === 'create' && s.name === name)).toHaveLength(2)
    expect(seen.filter((s) => s.op === 'remove' && s.name === name)).toHaveLength(2)
    expect(seen.filter((s) => s.op === 'create').some((s) => s.values.length === 2)).toBe(true)
    expect(await dns.txt(name)).toEqual([])
  })
})
