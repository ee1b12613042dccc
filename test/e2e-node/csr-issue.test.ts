/**
 * issueCertificateForCsr against Pebble: a request made by openssl (its key never given to webacme) is finalized as
 * it is; the certificate carries the request's public key and names; a request that names other identifiers than the
 * ones asked for is refused, and so is an altered one, before any request; resuming a finalized order needs no key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ChallengeSolver } from '../../src/challenges/solver.ts'
import { AcmeClient } from '../../src/client.ts'
import { InvalidArgumentError } from '../../src/errors.ts'
import { issueCertificateForCsr } from '../../src/issue-csr.ts'
import { generateKeyPair } from '../../src/jose/algorithms.ts'
import { parseCertificate } from '../../src/pkix/certificate.ts'
import { parseCsr } from '../../src/pkix/csr-parse.ts'
import { opensslCsr } from '../harness/openssl-csr.ts'
import { type Pebble, startPebble } from '../harness/pebble.ts'

const RUN = Date.now().toString(36)
let pebble: Pebble
let client: AcmeClient

const http01: ChallengeSolver = {
  type: 'http-01',
  present: (c) => pebble.challtest!.addHttp01(c.challenge.token!, c.keyAuthorization!),
  cleanup: (c) => pebble.challtest!.delHttp01(c.challenge.token!),
}

beforeAll(async () => {
  pebble = await startPebble({ http01: 'challtestsrv', authzReusePercent: 0 })
  client = new AcmeClient({ directoryUrl: pebble.directoryUrl, accountKey: await generateKeyPair('ES256') })
  await client.createAccount({ termsOfServiceAgreed: true })
})

afterAll(async () => {
  await pebble?.stop()
})

describe('issueCertificateForCsr', () => {
  it("issues for openssl's request: the leaf carries its public key and its names", async () => {
    const names = [`a-${RUN}.webacme.test`, `b-${RUN}.webacme.test`]
    const { csr: pem } = await opensslCsr(names)
    const orders: string[] = []
    const issued = await issueCertificateForCsr({
      client,
      csr: pem,
      solvers: [http01],
      hooks: { order: (order) => void orders.push(order.url) },
    })
    const leaf = parseCertificate(issued.certificate)
    expect(Buffer.from(leaf.subjectPublicKeyInfo)).toEqual(Buffer.from(parseCsr(pem).subjectPublicKeyInfo))
    expect([...leaf.dnsNames].sort()).toEqual([...names].sort())
    expect(issued).not.toHaveProperty('certificateKey')
    expect(issued.csr.identifiers.map((i) => i.value)).toEqual(names)

    // The order is valid: resumed by URL, it is completed without any key.
    const again = await issueCertificateForCsr({ client, csr: pem, solvers: [http01], orderUrl: orders[0]! })
    expect(parseCertificate(again.certificate).serialNumber).toBe(leaf.serialNumber)
  })

  it('refuses an altered request before any request to the CA (its signature no longer verifies)', async () => {
    const name = `e-${RUN}.webacme.test`
    const { csrDer } = await opensslCsr([name])
    // One letter of the name (CN and SAN) inside the signed part changes: the request still parses, for another name.
    const altered = Buffer.from(csrDer)
    for (let at = altered.indexOf(`e-${RUN}`); at >= 0; at = altered.indexOf(`e-${RUN}`, at + 1)) {
      altered[at] = 0x66 // f
    }
    expect(parseCsr(altered).identifiers).toEqual([{ type: 'dns', value: `f-${RUN}.webacme.test` }])
    const requests: string[] = []
    const counting = new AcmeClient({
      directoryUrl: pebble.directoryUrl,
      accountKey: await generateKeyPair('ES256'),
      onHttp: (e) => requests.push(`${e.method} ${e.url}`),
    })
    await expect(
      issueCertificateForCsr({
        client: counting,
        account: { termsOfServiceAgreed: true },
        csr: altered,
        solvers: [http01],
      }),
    ).rejects.toThrow(/signature does not verify with its own public key/)
    expect(requests).toEqual([])
  })

  it('refuses a request for other names than the ones asked for, and what is not a request', async () => {
    const { csr: pem } = await opensslCsr([`c-${RUN}.webacme.test`])
    await expect(
      issueCertificateForCsr({ client, csr: pem, identifiers: [`d-${RUN}.webacme.test`], solvers: [http01] }),
    ).rejects.toThrow(InvalidArgumentError)
    await expect(issueCertificateForCsr({ client, csr: 'not a request', solvers: [http01] })).rejects.toThrow(
      InvalidArgumentError,
    )
  })
})
