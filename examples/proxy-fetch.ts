/**
 * Reach the CA through an HTTP proxy: webacme takes any `fetch`, so inject undici's with a `ProxyAgent`
 * (Node's global fetch ignores HTTPS_PROXY). The same `fetch` option exists on every DNS adapter and resolver.
 *
 *   HTTPS_PROXY=http://proxy.internal:3128 node --import tsx examples/proxy-fetch.ts
 *
 * Environment: HTTPS_PROXY (required), ACME_DIRECTORY (default: Let's Encrypt staging).
 */
import { ProxyAgent, fetch as undiciFetch } from 'undici'
import { AcmeClient, directories, generateKeyPair } from 'webacme'

const proxy = process.env.HTTPS_PROXY ?? process.env.https_proxy
if (!proxy) throw new Error('set HTTPS_PROXY=http://proxy:port')
const dispatcher = new ProxyAgent(proxy)
type UndiciInput = Parameters<typeof undiciFetch>[0]
type UndiciInit = Parameters<typeof undiciFetch>[1]
// undici's fetch is the WHATWG fetch; only its TypeScript types differ a little from the DOM lib's, hence the cast.
const proxiedFetch = ((input: UndiciInput, init?: UndiciInit) =>
  undiciFetch(input, { ...init, dispatcher })) as unknown as typeof fetch

const client = new AcmeClient({
  directoryUrl: process.env.ACME_DIRECTORY ?? directories.letsencrypt.staging,
  accountKey: await generateKeyPair('ES256'),
  // Every request the client sends (directory, nonces, signed POSTs) goes through the proxy's CONNECT tunnel.
  fetch: proxiedFetch,
})
const directory = await client.directory()
console.log(`directory through ${proxy}: newAccount ${directory.newAccount}`)
const account = await client.createAccount({ termsOfServiceAgreed: true })
console.log(`account ${account.url} (${account.status})`)
await dispatcher.close()
