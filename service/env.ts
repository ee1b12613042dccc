/**
 * The service's bindings, typed once, with the messages of its queues, and its configuration read from them. Secrets
 * are set with `wrangler secret put NAME` (locally: `npm run service` passes them); vars live in /wrangler.toml.
 *
 * A leaf of the service's imports: it names no other module of the service but limits.ts, so that every module may
 * import it (the account object's methods are typed where they are defined, account-object.ts's `AccountApi`).
 */
import type { DeadLetter, RateLimits } from 'webacme/cloudflare'
import { type LimitVars, limitsFor } from './limits.ts'

/** The dead-letter queue's name, as in /wrangler.toml (the queue handler tells the two queues apart by name). */
export const DEAD_LETTER_QUEUE = 'webacme-jobs-dlq'

/**
 * A message of the jobs queue: run job `name` (an issuance, or a renewal check as of `asOf`, ms). `reissue`: an
 * issuance for a job whose certificate came from another CA (the configured one changed).
 */
export type JobMessage =
  | { kind: 'issue'; name: string; reissue?: true }
  | { kind: 'renew'; name: string; asOf: number }

/** A message of the webhooks queue: attempt this delivery (delivery/webhooks.ts). */
export interface WebhookMessage {
  webhook: string
  message: string
}

/** Everything the Worker is bound to. */
export interface Env extends LimitVars {
  /**
   * The account Durable Object (`AcmeAccount`, one, named `webacme-service`): account, budget, jobs. Reached through
   * `accountOf` (account-object.ts), which types its methods; untyped here so that this module imports no other.
   */
  ACCOUNTS: DurableObjectNamespace
  /** Issuance and renewal runs. */
  JOBS: Queue<JobMessage>
  /** Runs that will not heal, with the reason. */
  DEAD_LETTERS: Queue<DeadLetter<JobMessage>>
  /** Webhook deliveries: one attempt per message (delivery/webhooks.ts). */
  WEBHOOKS: Queue<WebhookMessage>
  /** http-01 key authorizations, read by the route that answers the CA. */
  CHALLENGES: KVNamespace
  /** Certificate records (chain, sealed key, renewal state), as `renewDue` reads them. */
  CERTIFICATES: R2Bucket
  /** The playground's static build (`[assets]`), when there is one. */
  ASSETS?: Fetcher

  // Secrets
  /** Bearer token of the HTTP API. Without it every API request is refused. */
  API_TOKEN?: string
  /** Seals private keys at rest (32+ characters); `STORAGE_KEY_PREVIOUS` still opens while rotating. */
  STORAGE_KEY?: string
  STORAGE_KEY_PREVIOUS?: string
  /** External account binding, for CAs that require it. */
  ACME_EAB_KID?: string
  ACME_EAB_HMAC_KEY?: string
  /** dns-01 credentials, per DNS_PROVIDER (see service/README.md). */
  CLOUDFLARE_API_TOKEN?: string
  CLOUDFLARE_ZONE_ID?: string
  PDNS_API_URL?: string
  PDNS_API_KEY?: string
  AWS_ACCESS_KEY_ID?: string
  AWS_SECRET_ACCESS_KEY?: string
  AWS_HOSTED_ZONE_ID?: string
  DIGITALOCEAN_TOKEN?: string
  HETZNER_API_TOKEN?: string
  DESEC_TOKEN?: string
  PORKBUN_API_KEY?: string
  PORKBUN_SECRET_API_KEY?: string
  OVH_ENDPOINT?: string
  OVH_APPLICATION_KEY?: string
  OVH_APPLICATION_SECRET?: string
  OVH_CONSUMER_KEY?: string
  GOOGLE_SERVICE_ACCOUNT?: string
  AZURE_TENANT_ID?: string
  AZURE_CLIENT_ID?: string
  AZURE_CLIENT_SECRET?: string
  AZURE_SUBSCRIPTION_ID?: string
  AZURE_RESOURCE_GROUP?: string
  GANDIV5_PERSONAL_ACCESS_TOKEN?: string
  LINODE_TOKEN?: string
  NAMECHEAP_API_USER?: string
  NAMECHEAP_API_KEY?: string
  NAMECHEAP_CLIENT_IP?: string
  ACMEDNS_URL?: string
  ACMEDNS_ACCOUNTS?: string

  // Vars
  ACME_DIRECTORY: string
  /** "true" once the operator has read and agreed to the CA's terms of service. */
  ACME_TERMS_OF_SERVICE_AGREED?: string
  /** Account contact, e.g. "mailto:ops@example.com" (comma-separated for several). */
  ACME_CONTACT?: string
  LIMIT_PENDING_AUTHORIZATIONS?: string
  LIMIT_NEW_ORDERS?: string
  LIMIT_NEW_ORDERS_WINDOW_SECONDS?: string
  LIMIT_REQUESTS_PER_SECOND?: string
  /** Jobs of one queue batch worked at once. */
  CONSUMER_CONCURRENCY?: string
  /** Renew what falls due within this many seconds of a cron pass (the cron interval). */
  RENEWAL_LOOKAHEAD_SECONDS?: string
  /** Milliseconds to wait for KV to carry an http-01 token to every location (60000 on Cloudflare). */
  HTTP01_PROPAGATION_MS?: string
  /**
   * dns-01 provider: cloudflare, powerdns, route53, digitalocean, hetzner, desec, porkbun, ovh, google, acme-dns,
   * azure, gandi, linode, namecheap, rfc2136 (empty: no dns-01).
   */
  /** DNS_PROVIDER=rfc2136: the server (`host[:port]`) taking dynamic updates, and the TSIG key (lego's names). */
  RFC2136_NAMESERVER?: string
  RFC2136_TSIG_KEY?: string
  RFC2136_TSIG_SECRET?: string
  RFC2136_TSIG_ALGORITHM?: string
  RFC2136_ZONE?: string
  DNS_PROVIDER?: string
  /** DNS-over-HTTPS resolver for the dns-01 propagation check (empty: the provider's own wait only). */
  DNS_RESOLVER_URL?: string
  /**
   * Delegated dns-01 (delegation.ts): a zone DNS_PROVIDER controls; customers CNAME `_acme-challenge.<hostname>` to
   * a name in it once, and every dns-01 TXT record is written there (empty: TXT records in the customer's zone).
   */
  DNS_DELEGATION_ZONE?: string
  /** Cloudflare zone whose custom hostnames get each certificate (with CLOUDFLARE_API_TOKEN; delivery/cloudflare.ts). */
  DELIVER_CLOUDFLARE_ZONE_ID?: string
  /** The Cloudflare API's base URL (default https://api.cloudflare.com/client/v4; a test points it at a fixture). */
  CLOUDFLARE_API_BASE?: string
  /** "true": webhook URLs may be http: and on loopback or private addresses (`npm run service` sets it). */
  WEBHOOK_ALLOW_LOCAL?: string
  /** First delay between webhook attempts, seconds (default 5; doubled per attempt up to an hour, jittered). */
  WEBHOOK_RETRY_BASE_SECONDS?: string
  /** How long a webhook delivery is retried, hours (default 26). */
  WEBHOOK_RETRY_HOURS?: string
  /**
   * The directory URL whose object (an earlier version kept one per CA) is moved into the service object on first
   * use (default: ACME_DIRECTORY). Set it when the CA changes together with the upgrade.
   */
  MIGRATE_FROM_DIRECTORY?: string
  /** `public` (default): only names a public CA issues; `local`: a private or test CA (service/hostname-policy.ts). */
  HOSTNAME_POLICY?: string
  /** Comma-separated domains: when set, only these and the names under them are taken on. */
  ALLOWED_SUFFIXES?: string
}

/** The service's settings, checked. */
export interface Config {
  directoryUrl: string
  termsOfServiceAgreed: boolean
  contact: string[]
  limits: RateLimits
  concurrency: number
  lookaheadMs: number
  http01PropagationMs: number
  dnsProvider: string | undefined
}

function count(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined || value.trim() === '') return fallback
  const n = Number(value)
  if (!Number.isFinite(n) || n < 0)
    throw new Error(`${name} must be a non-negative number, not ${JSON.stringify(value)}`)
  return n
}

/** Reads the configuration; throws naming the var that is wrong. Defaults: Let's Encrypt's limits. */
export function readConfig(env: Env): Config {
  if (!env.ACME_DIRECTORY) throw new Error('ACME_DIRECTORY is not set (see wrangler.toml)')
  return {
    directoryUrl: env.ACME_DIRECTORY,
    termsOfServiceAgreed: env.ACME_TERMS_OF_SERVICE_AGREED === 'true',
    contact: (env.ACME_CONTACT ?? '')
      .split(',')
      .map((c) => c.trim())
      .filter(Boolean),
    limits: limitsFor(env, env.ACME_DIRECTORY),
    concurrency: Math.max(1, count(env.CONSUMER_CONCURRENCY, 25, 'CONSUMER_CONCURRENCY')),
    lookaheadMs: count(env.RENEWAL_LOOKAHEAD_SECONDS, 300, 'RENEWAL_LOOKAHEAD_SECONDS') * 1000,
    http01PropagationMs: count(env.HTTP01_PROPAGATION_MS, 0, 'HTTP01_PROPAGATION_MS'),
    dnsProvider: env.DNS_PROVIDER?.trim() || undefined,
  }
}
