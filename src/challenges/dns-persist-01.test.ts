import { describe, expect, it, vi } from 'vitest'
import type { DnsAdapter } from '../dns/adapter.ts'
import { AcmeResponseError, InvalidArgumentError } from '../errors.ts'
import type { Challenge, Identifier } from '../protocol/resources.ts'
import { dnsPersist01IssuerDomainNames, dnsPersist01Record, dnsPersist01Solver } from './dns-persist-01.ts'
import type { ChallengeContext } from './solver.ts'

// draft-ietf-acme-dns-persist-01 §3.1, "Figure 1: Example dns-persist-01 Challenge Object" (also §10.1 step 1).
const DRAFT_CHALLENGE: Challenge = {
  type: 'dns-persist-01',
  url: 'https://ca.example/acme/authz/1234/0',
  status: 'pending',
  accounturi: 'https://ca.example/acct/123',
  'issuer-domain-names': ['authority.example', 'ca.example.net'],
}
const ACCOUNT = 'https://ca.example/acct/123'

describe('dnsPersist01Record (draft-ietf-acme-dns-persist-01 §4.1)', () => {
  it('§10.1 Basic Validation Example (FQDN Only)', () => {
    // _validation-persist.example.com. IN TXT ("authority.example;"
    // " accounturi=https://ca.example/acct/123")
    expect(
      dnsPersist01Record({ identifier: 'example.com', challenge: DRAFT_CHALLENGE, accountUrl: ACCOUNT }),
    ).toEqual({
      name: '_validation-persist.example.com',
      value: 'authority.example; accounturi=https://ca.example/acct/123',
    })
  })

  it('§10.2 Wildcard Validation Example: base name, policy=wildcard', () => {
    // "provisions a DNS TXT record at the base domain's Validation Domain Name, including policy=wildcard:
    // _validation-persist.example.com. IN TXT ("authority.example;"
    // " accounturi=https://ca.example/acct/123;" " policy=wildcard")"
    expect(
      dnsPersist01Record({
        identifier: '*.example.com',
        issuerDomainName: 'authority.example',
        accountUrl: ACCOUNT,
      }),
    ).toEqual({
      name: '_validation-persist.example.com',
      value: 'authority.example; accounturi=https://ca.example/acct/123; policy=wildcard',
    })
  })

  it('§10.3 Validation Example with persistUntil', () => {
    // _validation-persist.example.com. IN TXT ("authority.example;"
    // " accounturi=https://ca.example/acct/123;" " persistUntil=1721952000")   -- 2024-07-26T00:00:00Z
    const expected = 'authority.example; accounturi=https://ca.example/acct/123; persistUntil=1721952000'
    const base = { identifier: 'example.com', issuerDomainName: 'authority.example', accountUrl: ACCOUNT }
    expect(dnsPersist01Record({ ...base, persistUntil: 1721952000 }).value).toBe(expected)
    expect(dnsPersist01Record({ ...base, persistUntil: new Date('2024-07-26T00:00:00Z') }).value).toBe(
      expected,
    )
  })

  it('§10.4 Wildcard Validation Example with persistUntil', () => {
    // _validation-persist.example.com. IN TXT ("authority.example;"
    // " accounturi=https://ca.example/acct/123;" " policy=wildcard;" " persistUntil=1721952000")
    expect(
      dnsPersist01Record({
        identifier: { type: 'dns', value: '*.example.com' },
        challenge: DRAFT_CHALLENGE,
        accountUrl: ACCOUNT,
        persistUntil: 1721952000,
      }).value,
    ).toBe(
      'authority.example; accounturi=https://ca.example/acct/123; policy=wildcard; persistUntil=1721952000',
    )
  })

  it('§4.3.4 Example: Authorizing Two CAs', () => {
    // _validation-persist.example.org. 3600 IN TXT ("ca1.example;"
    // " accounturi=https://ca1.example/acct/12345;" " policy=wildcard")
    // _validation-persist.example.org. 3600 IN TXT ("ca2.example;"
    // " accounturi=https://ca2.example/acct/67890;" " persistUntil=1767225600")
    const ca1 = dnsPersist01Record({
      identifier: 'example.org',
      issuerDomainName: 'ca1.example',
      accountUrl: 'https://ca1.example/acct/12345',
      wildcard: true,
    })
    const ca2 = dnsPersist01Record({
      identifier: 'example.org',
      issuerDomainName: 'ca2.example',
      accountUrl: 'https://ca2.example/acct/67890',
      persistUntil: 1767225600,
    })
    expect([ca1, ca2]).toEqual([
      {
        name: '_validation-persist.example.org',
        value: 'ca1.example; accounturi=https://ca1.example/acct/12345; policy=wildcard',
      },
      {
        name: '_validation-persist.example.org',
        value: 'ca2.example; accounturi=https://ca2.example/acct/67890; persistUntil=1767225600',
      },
    ])
  })

  it("takes the challenge's accounturi over the account URL, and the preferred offered issuer", () => {
    // §3.1: accounturi "is the URI the CA expects in the DNS record".
    const record = dnsPersist01Record({
      identifier: 'example.com',
      challenge: { ...DRAFT_CHALLENGE, accounturi: 'https://ca.example/subscriber/9' },
      accountUrl: ACCOUNT,
      issuerDomainName: ['other.example', 'CA.example.net.'],
    })
    expect(record.value).toBe('ca.example.net; accounturi=https://ca.example/subscriber/9')
    // The WG's later editor's copies rename the field issuerDomainNames.
    const { 'issuer-domain-names': names, ...rest } = DRAFT_CHALLENGE
    expect(dnsPersist01IssuerDomainNames({ ...rest, issuerDomainNames: names })).toEqual(names)
  })

  it('rejects a challenge whose issuer-domain-names break §3.1', () => {
    const bad = (names: unknown) => () =>
      dnsPersist01Record({
        identifier: 'example.com',
        challenge: { ...DRAFT_CHALLENGE, 'issuer-domain-names': names },
        accountUrl: ACCOUNT,
      })
    expect(bad([])).toThrow(AcmeResponseError)
    expect(bad(Array.from({ length: 11 }, (_, i) => `ca${i}.example`))).toThrow(/1 to 10/)
    expect(bad(['Authority.example'])).toThrow(/lowercase A-label/)
    expect(bad(['authority.example.'])).toThrow(/trailing dot/)
    expect(bad(undefined)).toThrow(/missing/)
  })

  it('refuses what would make a record the CA rejects', () => {
    const base = { identifier: 'example.com', issuerDomainName: 'authority.example', accountUrl: ACCOUNT }
    expect(() => dnsPersist01Record({ ...base, identifier: { type: 'ip', value: '192.0.2.1' } })).toThrow(
      /DNS identifiers/,
    )
    expect(() => dnsPersist01Record({ ...base, identifier: '*.example.com', wildcard: false })).toThrow(
      /policy=wildcard/,
    )
    expect(() => dnsPersist01Record({ ...base, identifier: '192.0.2.1' })).toThrow(InvalidArgumentError)
    expect(dnsPersist01Record({ ...base, identifier: 'WWW.Example.COM.' }).name).toBe(
      '_validation-persist.www.example.com',
    )
    const { issuerDomainName: _, ...withoutIssuer } = base
    expect(() => dnsPersist01Record(withoutIssuer)).toThrow(InvalidArgumentError)
    expect(() => dnsPersist01Record({ ...base, accountUrl: 'https://ca.example/a;b' })).toThrow(/account URI/)
    expect(() => dnsPersist01Record({ ...base, persistUntil: 1.5 })).toThrow(/persistUntil/)
    expect(() =>
      dnsPersist01Record({ ...base, challenge: DRAFT_CHALLENGE, issuerDomainName: 'nope.example' }),
    ).toThrow(/authority\.example, ca\.example\.net/)
  })
})

function setup(removeOnCleanup?: boolean, persistUntil?: number) {
  const calls: string[] = []
  const adapter: DnsAdapter = {
    name: 'memory',
    createTxt: vi.fn(async (name: string, value: string) => void calls.push(`+ ${name} ${value}`)),
    removeTxt: vi.fn(async (name: string, value: string) => void calls.push(`- ${name} ${value}`)),
  }
  const solver = dnsPersist01Solver({
    adapter,
    issuerDomainName: 'ca.example.net',
    ...(removeOnCleanup !== undefined && { removeOnCleanup }),
    ...(persistUntil !== undefined && { persistUntil }),
  })
  const identifier: Identifier = { type: 'dns', value: 'www.example.com' }
  const ctx: ChallengeContext = {
    authorization: {
      url: 'https://ca.example/authz/1',
      identifier,
      status: 'pending',
      challenges: [DRAFT_CHALLENGE],
    },
    challenge: DRAFT_CHALLENGE,
    identifier,
    keyAuthorization: undefined,
    accountUrl: ACCOUNT,
  }
  return { solver, ctx, calls }
}

describe('dnsPersist01Solver', () => {
  it('publishes the record for the context and leaves it in place by default', async () => {
    const { solver, ctx, calls } = setup()
    expect(solver.type).toBe('dns-persist-01')
    await solver.present(ctx)
    await solver.ready?.(ctx)
    await solver.cleanup(ctx)
    expect(calls).toEqual([
      '+ _validation-persist.www.example.com ca.example.net; accounturi=https://ca.example/acct/123',
    ])
  })

  it('removes it with removeOnCleanup', async () => {
    const { solver, ctx, calls } = setup(true)
    await solver.present(ctx)
    await solver.cleanup(ctx)
    expect(calls).toEqual([
      '+ _validation-persist.www.example.com ca.example.net; accounturi=https://ca.example/acct/123',
      '- _validation-persist.www.example.com ca.example.net; accounturi=https://ca.example/acct/123',
    ])
  })

  it('refuses a persistUntil in the past before publishing', async () => {
    const { solver, ctx, calls } = setup(false, Math.floor(Date.now() / 1000) - 60)
    await expect(solver.present(ctx)).rejects.toThrow(/in the past/)
    expect(calls).toEqual([])
  })
})
