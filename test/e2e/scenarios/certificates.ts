/** Certificates end to end: revocation (§7.6), alternate chains (§7.4.2), order listing (§7.1.2.1), nonces. */
import {
  AcmeClient,
  createCsr,
  generateKeyPair,
  issueCertificateForCsr,
  parseCsr,
  verifyCsrSignature,
} from '../../../src/index.ts'
import { parseCertificate } from '../../../src/pkix/certificate.ts'
import { selectPreferredChain, splitPemChain } from '../../../src/pkix/chain.ts'
import { assert, equal, rejectsWith } from '../assert.ts'
import type { Scenario } from '../context.ts'
import { issue } from '../flow.ts'
import { newAccount } from './issuance.ts'

export const certificateScenarios: Scenario[] = [
  {
    name: 'a request made elsewhere is checked against its own key (ECDSA, RSA, Ed25519); an altered one is refused before any request',
    server: 'counting',
    async run(ctx) {
      const name = `csr-check.${ctx.domain}`
      const kinds: Array<[string, RsaHashedKeyGenParams | EcKeyGenParams | Algorithm]> = [
        ['P-256', { name: 'ECDSA', namedCurve: 'P-256' }],
        [
          'RSA',
          {
            name: 'RSASSA-PKCS1-v1_5',
            modulusLength: 2048,
            publicExponent: new Uint8Array([1, 0, 1]),
            hash: 'SHA-256',
          },
        ],
        ['Ed25519', { name: 'Ed25519' }],
      ]
      let altered: Uint8Array | undefined
      for (const [label, params] of kinds) {
        const keys = (await crypto.subtle.generateKey(params, false, ['sign', 'verify'])) as CryptoKeyPair
        const der = await createCsr({ keys, identifiers: [name] })
        equal(await verifyCsrSignature(parseCsr(der)), true, `${label}: the request verifies`)
        // One letter of the name (CN and SAN, inside the signed part) changed after signing.
        altered = der.slice()
        const bytes = new TextEncoder().encode('csr-check')
        for (let i = 0; i + bytes.length <= altered.length; i++) {
          if (bytes.every((b, j) => altered![i + j] === b)) altered[i] = 'x'.charCodeAt(0)
        }
        equal(parseCsr(altered).identifiers[0]?.value, `xsr-check.${ctx.domain}`, `${label}: still a request`)
        equal(await verifyCsrSignature(parseCsr(altered)), false, `${label}: the altered request fails`)
      }
      let requests = 0
      const client = new AcmeClient({
        directoryUrl: ctx.directoryUrl,
        accountKey: await generateKeyPair(),
        fetch: (input, init) => {
          requests++
          return ctx.fetch(input, init)
        },
      })
      await rejectsWith(
        issueCertificateForCsr({
          client,
          account: { termsOfServiceAgreed: true },
          csr: altered!,
          solvers: [],
        }),
        'ERR_INVALID_ARGUMENT',
        'issueCertificateForCsr with the altered request',
      )
      equal(requests, 0, 'requests sent to the CA')
    },
  },
  {
    name: 'revocation by the account key, with a reason, confirmed by Pebble',
    server: 'default',
    async run(ctx) {
      const client = await newAccount(ctx)
      const { chain } = await issue(ctx, client, [`revoke1.${ctx.domain}`])
      const serial = parseCertificate(chain.pem).serialNumber
      equal((await ctx.certStatus(serial)).status, 'valid', 'valid before revocation')
      await client.revokeCertificate(chain.pem, { reason: 'superseded' })
      const status = await ctx.certStatus(serial)
      equal(status.status, 'revoked', 'revoked per Pebble')
      equal(status.reason, 4, 'reason superseded (4)')
      await rejectsWith(client.revokeCertificate(chain.pem), 'ERR_ACME_ALREADY_REVOKED', 'second revocation')
    },
  },
  {
    name: 'revocation signed by the certificate key (jwk header, no account)',
    server: 'default',
    async run(ctx) {
      const client = await newAccount(ctx)
      const { chain, certificateKey } = await issue(ctx, client, [`revoke2.${ctx.domain}`])
      const stranger = new AcmeClient({
        directoryUrl: ctx.directoryUrl,
        accountKey: await generateKeyPair(),
        fetch: ctx.fetch,
      })
      await stranger.revokeCertificate(chain.pem, { certificateKey, reason: 'keyCompromise' })
      const status = await ctx.certStatus(parseCertificate(chain.pem).serialNumber)
      equal(status.status, 'revoked', 'revoked per Pebble')
      equal(status.reason, 1, 'reason keyCompromise (1)')
    },
  },
  {
    name: 'alternate chains (PEBBLE_ALTERNATE_ROOTS=2, PEBBLE_CHAIN_LENGTH=3) and preferred chain by issuer',
    server: 'chains',
    async run(ctx) {
      const client = await newAccount(ctx)
      const { order } = await issue(ctx, client, [`chains.${ctx.domain}`])
      const chains = await client.getCertificateChains(order)
      equal(chains.length, 3, 'default chain + 2 alternates')
      for (const c of chains) {
        // Pebble's chain length counts intermediates: leaf + 3 intermediates, each issued by the next.
        const certs = splitPemChain(c.pem).map((pem) => parseCertificate(pem))
        equal(certs.length, 4, 'leaf + 3 intermediates')
        for (let i = 0; i + 1 < certs.length; i++) {
          equal(
            certs[i]!.issuer.dn,
            certs[i + 1]!.subject.dn,
            `certificate ${i} is issued by certificate ${i + 1}`,
          )
        }
      }
      const leafSerials = new Set(chains.map((c) => parseCertificate(c.pem).serialNumber))
      equal(leafSerials.size, 1, 'every chain carries the same leaf')
      const topIssuers = chains.map((c) => parseCertificate(splitPemChain(c.pem).at(-1)!).issuer.commonName)
      equal(new Set(topIssuers).size, 3, `three distinct roots (${topIssuers.join(', ')})`)
      const wanted = topIssuers[2]!
      const picked = selectPreferredChain(
        chains.map((c) => c.pem),
        wanted,
      )
      equal(
        parseCertificate(splitPemChain(picked).at(-1)!).issuer.commonName,
        wanted,
        'preferred chain picked',
      )
    },
  },
  {
    name: 'order listing follows Link rel="next" pages (Let\'s Encrypt: none, a typed error)',
    server: 'paging',
    async run(ctx) {
      const client = await newAccount(ctx)
      const created: string[] = []
      for (let i = 0; i < 5; i++)
        created.push((await client.createOrder({ identifiers: [`list${i}.${ctx.domain}`] })).url)
      const listed: string[] = []
      if (ctx.ca === 'letsencrypt') {
        // Boulder never implemented the orders list: the account has no `orders` URL, and the client says so.
        const err = await rejectsWith(
          (async () => {
            for await (const url of client.listOrders()) listed.push(url)
          })(),
          'ERR_UNSUPPORTED',
          'listOrders against a CA without an orders list',
        )
        assert(/does not list orders/.test(err.message), `says why: ${err.message}`)
        return
      }
      for await (const url of client.listOrders()) listed.push(url)
      equal([...listed].sort(), [...created].sort(), 'all 5 orders listed across pages of 2')
    },
  },
  {
    name: 'half of all nonces rejected (PEBBLE_WFE_NONCEREJECT=50): issuance still succeeds',
    server: 'nonce50',
    async run(ctx) {
      const client = await newAccount(ctx)
      for (const name of [`n1.${ctx.domain}`, `n2.${ctx.domain}`]) {
        const { chain } = await issue(ctx, client, [name], { challenge: 'dns-01' })
        assert(chain.pem.includes('BEGIN CERTIFICATE'), `issued ${name}`)
      }
    },
  },
]
