/**
 * A Cloudflare Worker that keeps its own certificate: a Cron Trigger issues through http-01, answered by this
 * same Worker's fetch handler (tokens in KV, since the CA's request may reach another isolate), and stores the
 * chain and key in KV for whatever deploys them.
 *
 * wrangler.toml:
 *   main = "examples/worker.ts"
 *   compatibility_date = "2026-04-01"
 *   kv_namespaces = [{ binding = "CERTS", id = "<namespace id>" }]
 *   triggers = { crons = ["0 3 * * *"] }
 *   [vars]
 *   DOMAINS = "example.com,www.example.com"        # routed to this Worker on port 80
 *   # ACME_DIRECTORY = "https://acme-v02.api.letsencrypt.org/directory"   (default: Let's Encrypt staging)
 * and the account key as a secret: `wrangler secret put ACCOUNT_KEY` (a PKCS#8 PEM, e.g. from
 * `webacme account create --account-key account.pem ...`).
 */
import {
  AcmeClient,
  directories,
  exportPrivateKeyPem,
  type Http01Store,
  http01Solver,
  importPrivateKeyPem,
  issueCertificate,
} from 'webacme'

/** The parts of the Workers runtime this Worker uses (the full types: @cloudflare/workers-types). */
interface KvNamespace {
  get(key: string): Promise<string | null>
  put(key: string, value: string, options?: { expirationTtl?: number }): Promise<void>
  delete(key: string): Promise<void>
}
interface ExecutionContext {
  waitUntil(promise: Promise<unknown>): void
}
export interface Env {
  CERTS: KvNamespace
  ACCOUNT_KEY: string
  DOMAINS: string
  ACME_DIRECTORY?: string
}

/** http-01 tokens in KV, for an hour at most. */
function kvStore(kv: KvNamespace): Http01Store {
  return {
    get: async (token) => (await kv.get(`http-01/${token}`)) ?? undefined,
    set: (token, keyAuthorization) => kv.put(`http-01/${token}`, keyAuthorization, { expirationTtl: 3600 }),
    delete: (token) => kv.delete(`http-01/${token}`),
  }
}

/** Issues a certificate for env.DOMAINS and stores `fullchain.pem` and `privkey.pem` in KV. */
export async function issue(env: Env): Promise<string> {
  const client = new AcmeClient({
    directoryUrl: env.ACME_DIRECTORY ?? directories.letsencrypt.staging,
    accountKey: await importPrivateKeyPem(env.ACCOUNT_KEY),
  })
  const { certificate, certificateKey, parsed } = await issueCertificate({
    client,
    account: { termsOfServiceAgreed: true }, // deploying this means agreeing to the CA's terms of service
    identifiers: env.DOMAINS.split(',').filter(Boolean),
    solvers: [http01Solver({ store: kvStore(env.CERTS) })],
  })
  await env.CERTS.put('fullchain.pem', certificate)
  await env.CERTS.put('privkey.pem', await exportPrivateKeyPem(certificateKey.privateKey))
  return parsed.serialNumber
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const answer = await http01Solver({ store: kvStore(env.CERTS) }).handle(request)
    return answer ?? new Response('not found', { status: 404 })
  },
  async scheduled(_controller: unknown, env: Env, ctx: ExecutionContext): Promise<void> {
    ctx.waitUntil(issue(env).then((serial) => console.log(`issued serial ${serial}`)))
  },
}
