// One bench run of webacme, in its own process (started by bench/run.ts): one account, then `n`
// certificates for distinct names with http-01 answered by challtestsrv, `concurrency` at a time.
// Requests are counted by the fetch the client is given; the result is one JSON line on stdout.

import { nodeFetch } from '../src/fetch/node-fetch.ts'
import {
  AcmeClient,
  type ChallengeContext,
  type ChallengeSolver,
  generateKeyPair,
  issueCertificate,
} from '../src/index.ts'
import { certName, challtest, RequestCounter, runWorker } from './lib/shared.ts'

const counter = new RequestCounter()

await runWorker('webacme', counter, async (config) => {
  const inner = config.nodeFetch ? nodeFetch : fetch
  const countingFetch: typeof fetch = async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url
    const sent = counter.request(init?.method ?? 'GET', url)
    const res = await inner(input, init)
    counter.response(sent, res.status)
    return res
  }
  const client = new AcmeClient({
    directoryUrl: config.directoryUrl,
    accountKey: await generateKeyPair('ES256'),
    fetch: countingFetch,
    ...(config.poll && { poll: config.poll }),
  })
  await client.createAccount({ termsOfServiceAgreed: true })

  const solver: ChallengeSolver = {
    type: 'http-01',
    async present({ challenge, keyAuthorization }: ChallengeContext) {
      await challtest.addHttp01(config.challtestUrl, challenge.token!, keyAuthorization!)
    },
    async cleanup({ challenge }: ChallengeContext) {
      await challtest.delHttp01(config.challtestUrl, challenge.token!)
    },
  }

  return async (i) => {
    await issueCertificate({
      client,
      account: { termsOfServiceAgreed: true },
      identifiers: [certName(config, i)],
      solvers: [solver],
      certificateKey: await generateKeyPair('ES256'),
    })
  }
})
process.exit(0)
