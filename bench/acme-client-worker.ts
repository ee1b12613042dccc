// One bench run of acme-client 5.4.0, in its own process (started by bench/run.ts): one account, then `n`
// certificates for distinct names with http-01 answered by challtestsrv, `concurrency` at a time, through
// `client.auto()` with the library's defaults. Requests are counted by a request interceptor on the axios
// instance acme-client exports (`acme.axios`), which every ACME request goes through (retries included).

import acme from 'acme-client'
import { certName, challtest, RequestCounter, runWorker, type SentRequest } from './lib/shared.ts'

const counter = new RequestCounter()
const sent = new WeakMap<object, SentRequest>()
acme.axios.interceptors.request.use((config) => {
  sent.set(config, counter.request(config.method ?? 'get', acme.axios.getUri(config)))
  return config
})
acme.axios.interceptors.response.use((response) => {
  const request = sent.get(response.config)
  if (request) counter.response(request, response.status)
  return response
})

await runWorker('acme-client', counter, async (config) => {
  // ECDSA P-256 account key, as webacme's (acme-client's README examples use RSA 2048, which signs slower).
  const client = new acme.Client({
    directoryUrl: config.directoryUrl,
    accountKey: await acme.crypto.createPrivateEcdsaKey('P-256'),
  })
  await client.createAccount({ termsOfServiceAgreed: true })

  return async (i) => {
    const name = certName(config, i)
    const key = await acme.crypto.createPrivateEcdsaKey('P-256')
    const [, csr] = await acme.crypto.createCsr({ altNames: [name] }, key)
    await client.auto({
      csr,
      termsOfServiceAgreed: true,
      challengePriority: ['http-01'],
      // auto() first GETs http://<name>/.well-known/acme-challenge/<token> itself; the bench names only
      // resolve in challtestsrv's DNS, and webacme does no such self-check, so it is skipped.
      skipChallengeVerification: true,
      challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
        await challtest.addHttp01(config.challtestUrl, challenge.token, keyAuthorization)
      },
      challengeRemoveFn: async (_authz, challenge) => {
        await challtest.delHttp01(config.challtestUrl, challenge.token)
      },
    })
  }
})
process.exit(0)
