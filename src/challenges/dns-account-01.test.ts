import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import type { DnsAdapter } from '../dns/adapter.ts'
import type { DnsResolver } from '../dns/resolver.ts'
import { InvalidArgumentError } from '../errors.ts'
import type { Challenge, Identifier } from '../protocol/resources.ts'
import { dnsAccount01Label, dnsAccount01RecordName, dnsAccount01Solver } from './dns-account-01.ts'
import type { ChallengeContext } from './solver.ts'

// draft-ietf-acme-dns-account-label, "dns-account-01 Challenge" example (unchanged since -00):
//   "For example, if the domain name being validated is "example.org", and the account URL of
//    "https://example.com/acme/acct/ExampleAccount" then the client would provision the following DNS record:
//    _ujmmovf2vn55tgye._acme-challenge.example.org 300 IN TXT "LoqXcYV8...jxAjEuX0.9jg46WB3...fm21mqTI""
const DRAFT_ACCOUNT_URL = 'https://example.com/acme/acct/ExampleAccount'

/** The construction written out with node:crypto: base32 (RFC 4648 §6) of SHA-256(url)[0:10], lowercased. */
function referenceLabel(accountUrl: string): string {
  const bytes = createHash('sha256').update(accountUrl).digest().subarray(0, 10)
  const bits = [...bytes].map((b) => b.toString(2).padStart(8, '0')).join('')
  return bits.replace(/.{5}/g, (chunk) => 'abcdefghijklmnopqrstuvwxyz234567'[Number.parseInt(chunk, 2)]!)
}

describe('dns-account-01 record name (draft-ietf-acme-dns-account-label)', () => {
  it("matches the draft's example", async () => {
    expect(await dnsAccount01Label(DRAFT_ACCOUNT_URL)).toBe('ujmmovf2vn55tgye')
    expect(await dnsAccount01RecordName('example.org', DRAFT_ACCOUNT_URL)).toBe(
      '_ujmmovf2vn55tgye._acme-challenge.example.org',
    )
  })

  it('is 16 lowercase base32 characters of the first 10 bytes of SHA-256(account URL)', async () => {
    for (const url of [
      'https://example.com/acme/acct/1',
      'https://acme-v02.api.letsencrypt.org/acme/acct/12345',
      'http://localhost:14000/my-account/1',
    ]) {
      const label = await dnsAccount01Label(url)
      expect(label).toMatch(/^[a-z2-7]{16}$/)
      expect(label).toBe(referenceLabel(url))
    }
    await expect(dnsAccount01Label('')).rejects.toBeInstanceOf(InvalidArgumentError)
  })

  it('uses the base name for a wildcard, like dns-01 (RFC 8555 §7.1.3), and drops a trailing dot', async () => {
    const expected = '_ujmmovf2vn55tgye._acme-challenge.example.org'
    expect(await dnsAccount01RecordName('*.example.org', DRAFT_ACCOUNT_URL)).toBe(expected)
    expect(await dnsAccount01RecordName({ type: 'dns', value: 'example.org.' }, DRAFT_ACCOUNT_URL)).toBe(
      expected,
    )
  })
})

function memoryAdapter() {
  const records = new Map<string, Set<string>>()
  const adapter: DnsAdapter = {
    name: 'memory',
    async createTxt(name, value) {
      records.set(name, (records.get(name) ?? new Set()).add(value))
    },
    async removeTxt(name, value) {
      records.get(name)?.delete(value)
    },
  }
  return { adapter, records }
}

function context(identifier: Identifier, keyAuthorization: string | undefined): ChallengeContext {
  const challenge: Challenge = {
    type: 'dns-account-01',
    url: 'https://ca.example/chall/1',
    status: 'pending',
    token: 'tok',
  }
  return {
    authorization: {
      url: 'https://ca.example/authz/1',
      identifier,
      status: 'pending',
      challenges: [challenge],
    },
    challenge,
    identifier,
    keyAuthorization,
    accountUrl: DRAFT_ACCOUNT_URL,
  }
}

describe('dnsAccount01Solver', () => {
  it('publishes the dns-01 value at the account name, waits for it and removes exactly it', async () => {
    const { adapter, records } = memoryAdapter()
    const cname: Record<string, string> = {
      '_ujmmovf2vn55tgye._acme-challenge.example.org': 'region-a.validation.example.net.',
    }
    const resolver: DnsResolver = {
      resolveCname: async (name) => cname[name],
      resolveTxt: async (name) => [...(records.get(name) ?? [])],
    }
    const solver = dnsAccount01Solver({ adapter, resolver, propagation: { interval: 1 } })
    expect(solver.type).toBe('dns-account-01')
    expect(solver.canSolve?.({ type: 'ip', value: '192.0.2.1' })).toBe(false)
    expect(solver.canSolve?.({ type: 'dns', value: '*.example.org' })).toBe(true)

    const ka = 'token.thumbprint'
    const ctx = context({ type: 'dns', value: '*.example.org' }, ka)
    await solver.present(ctx)
    await solver.ready?.(ctx)
    // The CNAME is followed: that is what per-account labels are for.
    expect([...(records.get('region-a.validation.example.net') ?? [])]).toEqual([
      createHash('sha256').update(ka).digest('base64url'),
    ])
    await solver.cleanup(ctx)
    expect(records.get('region-a.validation.example.net')?.size).toBe(0)
  })

  it('needs a key authorization', async () => {
    const { adapter } = memoryAdapter()
    await expect(
      dnsAccount01Solver({ adapter }).present(context({ type: 'dns', value: 'example.org' }, undefined)),
    ).rejects.toThrow(/key authorization/)
  })
})
