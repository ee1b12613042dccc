/**
 * `--dns PROVIDER`: dns-01 through one of the library's DNS adapters, with credentials from environment
 * variables (never flags: flags show in `ps`). Each provider's variables are listed in {@link DNS_PROVIDERS}
 * and in cli/README.md. `--dns-resolver` picks the DNS-over-HTTPS resolver of the propagation check.
 */
import { constants } from 'node:fs'
import { access } from 'node:fs/promises'
import { type ChallengeSolver, type DnsAdapter, dns01Solver, dohResolver } from 'webacme'
import { UsageError } from '../exit-codes.ts'
import { readText } from '../files.ts'
import type { Reporter } from '../output.ts'

type Env = Record<string, string | undefined>
type LoggingFetch = typeof fetch

interface Provider {
  /** Variables that must be set. */
  required: string[]
  /** Variables read when set. */
  optional: string[]
  /** Alternatives: at least one of each group must be set. */
  oneOf?: string[][]
  create(env: Env, fetch: LoggingFetch): Promise<DnsAdapter>
  /** Propagation check settings the provider's variables give (lego's `*_PROPAGATION_TIMEOUT` and the like). */
  propagation?(env: Env): { timeout?: number; interval?: number }
}

/** A lego-style duration variable: whole seconds. */
function seconds(env: Env, name: string): number | undefined {
  const v = env[name]
  if (v === undefined || v === '') return undefined
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new UsageError(`${name} must be a number of seconds, got ${v}`)
  return Number(v) * 1000
}

/** The providers and the environment variables each one reads. */
export const DNS_PROVIDERS: Readonly<Record<string, Provider>> = {
  powerdns: {
    required: ['PDNS_API_URL', 'PDNS_API_KEY'],
    optional: ['PDNS_SERVER_ID', 'PDNS_ZONE'],
    async create(env, fetch) {
      const { powerDnsAdapter } = await import('webacme/dns/powerdns')
      return powerDnsAdapter({
        url: env.PDNS_API_URL!,
        apiKey: env.PDNS_API_KEY!,
        ...(env.PDNS_SERVER_ID && { serverId: env.PDNS_SERVER_ID }),
        ...(env.PDNS_ZONE && { zone: env.PDNS_ZONE }),
        fetch,
      })
    },
  },
  cloudflare: {
    required: ['CLOUDFLARE_API_TOKEN'],
    optional: ['CLOUDFLARE_ZONE_ID'],
    async create(env, fetch) {
      const { cloudflareAdapter } = await import('webacme/dns/cloudflare')
      return cloudflareAdapter({
        apiToken: env.CLOUDFLARE_API_TOKEN!,
        ...(env.CLOUDFLARE_ZONE_ID && { zoneId: env.CLOUDFLARE_ZONE_ID }),
        fetch,
      })
    },
  },
  route53: {
    required: ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'],
    optional: ['AWS_SESSION_TOKEN', 'AWS_HOSTED_ZONE_ID'],
    async create(env, fetch) {
      const { route53Adapter } = await import('webacme/dns/route53')
      return route53Adapter({
        credentials: {
          accessKeyId: env.AWS_ACCESS_KEY_ID!,
          secretAccessKey: env.AWS_SECRET_ACCESS_KEY!,
          ...(env.AWS_SESSION_TOKEN && { sessionToken: env.AWS_SESSION_TOKEN }),
        },
        ...(env.AWS_HOSTED_ZONE_ID && { hostedZoneId: env.AWS_HOSTED_ZONE_ID }),
        fetch,
      })
    },
  },
  'acme-dns': {
    required: ['ACME_DNS_API_URL', 'ACME_DNS_STORAGE_PATH'],
    optional: [],
    async create(env, fetch) {
      const { acmeDnsAdapter } = await import('webacme/dns/acme-dns')
      // The same file lego and others keep: { "example.com": { username, password, subdomain, fulldomain } }.
      const path = env.ACME_DNS_STORAGE_PATH!
      let accounts: unknown
      try {
        accounts = JSON.parse(await readText(path, 'acme-dns accounts'))
      } catch (err) {
        throw new UsageError(
          `ACME_DNS_STORAGE_PATH ${path} is not a JSON file of acme-dns accounts: ${(err as Error).message}`,
        )
      }
      return acmeDnsAdapter({ url: env.ACME_DNS_API_URL!, accounts: accounts as never, fetch })
    },
  },
  digitalocean: {
    required: ['DIGITALOCEAN_TOKEN'],
    optional: ['DIGITALOCEAN_DOMAIN'],
    async create(env, fetch) {
      const { digitalOceanAdapter } = await import('webacme/dns/digitalocean')
      return digitalOceanAdapter({
        token: env.DIGITALOCEAN_TOKEN!,
        ...(env.DIGITALOCEAN_DOMAIN && { domain: env.DIGITALOCEAN_DOMAIN }),
        fetch,
      })
    },
  },
  hetzner: {
    required: ['HETZNER_API_TOKEN'],
    optional: ['HETZNER_ZONE'],
    async create(env, fetch) {
      const { hetznerAdapter } = await import('webacme/dns/hetzner')
      return hetznerAdapter({
        apiToken: env.HETZNER_API_TOKEN!,
        ...(env.HETZNER_ZONE && { zone: env.HETZNER_ZONE }),
        fetch,
      })
    },
  },
  desec: {
    required: ['DESEC_TOKEN'],
    optional: ['DESEC_DOMAIN'],
    async create(env, fetch) {
      const { desecAdapter } = await import('webacme/dns/desec')
      return desecAdapter({
        token: env.DESEC_TOKEN!,
        ...(env.DESEC_DOMAIN && { domain: env.DESEC_DOMAIN }),
        fetch,
      })
    },
  },
  porkbun: {
    required: ['PORKBUN_API_KEY', 'PORKBUN_SECRET_API_KEY'],
    optional: ['PORKBUN_DOMAIN'],
    async create(env, fetch) {
      const { porkbunAdapter } = await import('webacme/dns/porkbun')
      return porkbunAdapter({
        apiKey: env.PORKBUN_API_KEY!,
        secretApiKey: env.PORKBUN_SECRET_API_KEY!,
        ...(env.PORKBUN_DOMAIN && { domain: env.PORKBUN_DOMAIN }),
        fetch,
      })
    },
  },
  ovh: {
    required: ['OVH_ENDPOINT'],
    optional: [
      'OVH_APPLICATION_KEY',
      'OVH_APPLICATION_SECRET',
      'OVH_CONSUMER_KEY',
      'OVH_CLIENT_ID',
      'OVH_CLIENT_SECRET',
      'OVH_ZONE',
    ],
    async create(env, fetch) {
      const { ovhAdapter } = await import('webacme/dns/ovh')
      // Either the three keys of a signed application or a service account's OAuth2 client, as lego reads them.
      const oauth = Boolean(env.OVH_CLIENT_ID || env.OVH_CLIENT_SECRET)
      const needed = oauth
        ? ['OVH_CLIENT_ID', 'OVH_CLIENT_SECRET']
        : ['OVH_APPLICATION_KEY', 'OVH_APPLICATION_SECRET', 'OVH_CONSUMER_KEY']
      const missing = needed.filter((v) => !env[v])
      if (missing.length)
        throw new UsageError(
          `--dns ovh needs OVH_APPLICATION_KEY, OVH_APPLICATION_SECRET and OVH_CONSUMER_KEY, or OVH_CLIENT_ID and OVH_CLIENT_SECRET; missing ${missing.join(', ')}`,
        )
      return ovhAdapter({
        endpoint: env.OVH_ENDPOINT!,
        credentials: oauth
          ? { clientId: env.OVH_CLIENT_ID!, clientSecret: env.OVH_CLIENT_SECRET! }
          : {
              applicationKey: env.OVH_APPLICATION_KEY!,
              applicationSecret: env.OVH_APPLICATION_SECRET!,
              consumerKey: env.OVH_CONSUMER_KEY!,
            },
        ...(env.OVH_ZONE && { zone: env.OVH_ZONE }),
        fetch,
      })
    },
  },
  exec: {
    required: ['EXEC_PATH'],
    optional: ['EXEC_MODE', 'EXEC_PROPAGATION_TIMEOUT', 'EXEC_POLLING_INTERVAL'],
    async create(env) {
      if (env.EXEC_MODE !== undefined && env.EXEC_MODE !== '') {
        // RAW hands the program the key authorization; a DNS adapter is given only the TXT record it writes.
        throw new UsageError(
          `EXEC_MODE=${env.EXEC_MODE} is not supported: webacme runs EXEC_PATH present|cleanup <fqdn> <value> (lego's default mode); unset EXEC_MODE`,
        )
      }
      const program = env.EXEC_PATH!
      try {
        await access(program, constants.X_OK)
      } catch (err) {
        throw new UsageError(`EXEC_PATH ${program} is not an executable file: ${(err as Error).message}`)
      }
      const { execAdapter } = await import('webacme/dns/exec')
      return execAdapter({ program, env })
    },
    propagation(env) {
      const timeout = seconds(env, 'EXEC_PROPAGATION_TIMEOUT')
      const interval = seconds(env, 'EXEC_POLLING_INTERVAL')
      return { ...(timeout !== undefined && { timeout }), ...(interval !== undefined && { interval }) }
    },
  },
  google: {
    required: [],
    optional: ['GOOGLE_CLOUD_PROJECT', 'GOOGLE_MANAGED_ZONE'],
    oneOf: [['GOOGLE_APPLICATION_CREDENTIALS', 'GOOGLE_SERVICE_ACCOUNT_JSON']],
    async create(env, fetch) {
      const { googleCloudDnsAdapter } = await import('webacme/dns/google')
      const serviceAccount =
        env.GOOGLE_SERVICE_ACCOUNT_JSON ??
        (await readText(env.GOOGLE_APPLICATION_CREDENTIALS!, 'Google service account key'))
      return googleCloudDnsAdapter({
        serviceAccount,
        ...(env.GOOGLE_CLOUD_PROJECT && { project: env.GOOGLE_CLOUD_PROJECT }),
        ...(env.GOOGLE_MANAGED_ZONE && { managedZone: env.GOOGLE_MANAGED_ZONE }),
        fetch,
      })
    },
  },
  azure: {
    required: ['AZURE_CLIENT_ID', 'AZURE_CLIENT_SECRET', 'AZURE_TENANT_ID', 'AZURE_SUBSCRIPTION_ID'],
    optional: ['AZURE_RESOURCE_GROUP', 'AZURE_ZONE_NAME'],
    async create(env, fetch) {
      const { azureDnsAdapter } = await import('webacme/dns/azure')
      if (env.AZURE_ZONE_NAME && !env.AZURE_RESOURCE_GROUP) {
        throw new UsageError("AZURE_ZONE_NAME needs AZURE_RESOURCE_GROUP (the zone's resource group)")
      }
      return azureDnsAdapter({
        tenantId: env.AZURE_TENANT_ID!,
        clientId: env.AZURE_CLIENT_ID!,
        clientSecret: env.AZURE_CLIENT_SECRET!,
        subscriptionId: env.AZURE_SUBSCRIPTION_ID!,
        ...(env.AZURE_RESOURCE_GROUP && { resourceGroup: env.AZURE_RESOURCE_GROUP }),
        ...(env.AZURE_ZONE_NAME && { zone: env.AZURE_ZONE_NAME }),
        fetch,
      })
    },
  },
  gandi: {
    required: [],
    optional: [],
    oneOf: [['GANDIV5_PERSONAL_ACCESS_TOKEN', 'GANDIV5_API_KEY']],
    async create(env, fetch) {
      const { gandiAdapter } = await import('webacme/dns/gandi')
      return gandiAdapter({
        ...(env.GANDIV5_PERSONAL_ACCESS_TOKEN
          ? { personalAccessToken: env.GANDIV5_PERSONAL_ACCESS_TOKEN }
          : { apiKey: env.GANDIV5_API_KEY! }),
        fetch,
      })
    },
  },
  linode: {
    required: ['LINODE_TOKEN'],
    optional: [],
    async create(env, fetch) {
      const { linodeAdapter } = await import('webacme/dns/linode')
      return linodeAdapter({ token: env.LINODE_TOKEN!, fetch })
    },
  },
  namecheap: {
    required: ['NAMECHEAP_API_USER', 'NAMECHEAP_API_KEY'],
    // NAMECHEAP_CLIENT_IP is webacme's own (lego always asks Namecheap's echo service, as webacme does without it).
    optional: ['NAMECHEAP_CLIENT_IP', 'NAMECHEAP_SANDBOX'],
    async create(env, fetch) {
      const { namecheapAdapter } = await import('webacme/dns/namecheap')
      return namecheapAdapter({
        apiUser: env.NAMECHEAP_API_USER!,
        apiKey: env.NAMECHEAP_API_KEY!,
        ...(env.NAMECHEAP_CLIENT_IP && { clientIp: env.NAMECHEAP_CLIENT_IP }),
        ...(env.NAMECHEAP_SANDBOX === 'true' && { sandbox: true }),
        fetch,
      })
    },
  },
  rfc2136: {
    // lego's variable names; the default algorithm here is hmac-sha256 (lego's is hmac-sha1).
    required: ['RFC2136_NAMESERVER', 'RFC2136_TSIG_KEY', 'RFC2136_TSIG_SECRET'],
    optional: ['RFC2136_TSIG_ALGORITHM', 'RFC2136_ZONE', 'RFC2136_TTL'],
    async create(env) {
      const { rfc2136Adapter } = await import('webacme/dns/rfc2136')
      const { nodeTcpTransport } = await import('webacme/dns/rfc2136/node')
      const ttl = env.RFC2136_TTL === undefined ? undefined : Number(env.RFC2136_TTL)
      if (ttl !== undefined && !(Number.isInteger(ttl) && ttl >= 0)) {
        throw new UsageError(`RFC2136_TTL must be a number of seconds, got ${env.RFC2136_TTL}`)
      }
      try {
        return rfc2136Adapter({
          transport: nodeTcpTransport(nameserver(env.RFC2136_NAMESERVER!)),
          tsig: {
            name: env.RFC2136_TSIG_KEY!,
            secret: env.RFC2136_TSIG_SECRET!,
            ...(env.RFC2136_TSIG_ALGORITHM && { algorithm: env.RFC2136_TSIG_ALGORITHM }),
          },
          ...(env.RFC2136_ZONE && { zone: env.RFC2136_ZONE }),
          ...(ttl !== undefined && { ttl }),
        })
      } catch (err) {
        // A bad key name, secret or algorithm is the user's input: a usage error that says which.
        if (err instanceof UsageError) throw err
        throw new UsageError(`--dns rfc2136: ${(err as Error).message}`)
      }
    },
  },
}

/** `RFC2136_NAMESERVER`: `host`, `host:port`, `[v6]:port` or a bare IPv6 address; the port defaults to 53. */
function nameserver(text: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(text) ?? /^([^:]+)(?::(\d+))?$/.exec(text)
  const host = m ? m[1]! : (text.match(/:/g)?.length ?? 0) >= 2 ? text : ''
  const port = m?.[2] === undefined ? 53 : Number(m[2])
  if (!host || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UsageError(`RFC2136_NAMESERVER must be host, host:port or [IPv6]:port, got ${text}`)
  }
  return { host, port }
}

/** The adapter for `--dns NAME`, configured from the environment; missing variables are a usage error. */
export async function dnsAdapter(name: string, env: Env, reporter: Reporter): Promise<DnsAdapter> {
  const provider = DNS_PROVIDERS[name.toLowerCase()]
  if (!provider)
    throw new UsageError(`--dns must be one of ${Object.keys(DNS_PROVIDERS).join(', ')}, got ${name}`)
  const missing = provider.required.filter((v) => !env[v])
  for (const group of provider.oneOf ?? []) if (!group.some((v) => env[v])) missing.push(group.join(' or '))
  if (missing.length)
    throw new UsageError(`--dns ${name} needs the environment variable(s) ${missing.join(', ')}`)
  return provider.create(env, loggingFetch(reporter))
}

/** A fetch that reports each request of the adapter to --verbose (method, URL, status, time; no headers). */
function loggingFetch(reporter: Reporter): LoggingFetch {
  return async (input, init) => {
    const started = performance.now()
    const method = init?.method ?? (input instanceof Request ? input.method : 'GET')
    const url = input instanceof Request ? input.url : String(input)
    try {
      const res = await fetch(input, init)
      reporter.dnsHttp({ method, url, status: res.status, duration: performance.now() - started })
      return res
    } catch (error) {
      reporter.dnsHttp({ method, url, status: undefined, duration: performance.now() - started, error })
      throw error
    }
  }
}

/** The dns-01 solver for `--dns NAME` and `--dns-resolver default|none|URL`. */
export async function dnsSolver(
  name: string,
  resolver: string | undefined,
  env: Env,
  reporter: Reporter,
): Promise<ChallengeSolver> {
  const adapter = await dnsAdapter(name, env, reporter)
  const propagation = DNS_PROVIDERS[name.toLowerCase()]?.propagation?.(env) ?? {}
  return dns01With(adapter, resolver, propagation)
}

/**
 * The dns-01 solver for certbot-style hooks: `--manual-auth-hook CMD [--manual-cleanup-hook CMD]`, run through
 * /bin/sh with certbot's CERTBOT_* variables (webacme/dns/exec `certbotHookAdapter`).
 */
export async function certbotHookSolver(
  hooks: { auth: string; cleanup: string | undefined; allDomains: string[] },
  resolver: string | undefined,
  env: Env,
): Promise<ChallengeSolver> {
  const { certbotHookAdapter } = await import('webacme/dns/exec')
  const adapter = certbotHookAdapter({
    authHook: hooks.auth,
    ...(hooks.cleanup !== undefined && { cleanupHook: hooks.cleanup }),
    ...(hooks.allDomains.length && { allDomains: hooks.allDomains }),
    env,
  })
  return dns01With(adapter, resolver, {})
}

function dns01With(
  adapter: DnsAdapter,
  resolver: string | undefined,
  propagation: { timeout?: number; interval?: number },
): ChallengeSolver {
  if (resolver === 'none') return dns01Solver({ adapter })
  if (resolver === undefined || resolver === 'default')
    return dns01Solver({ adapter, resolver: dohResolver(), propagation })
  let url: URL
  try {
    url = new URL(resolver)
  } catch {
    throw new UsageError(`--dns-resolver must be default, none or a DNS-over-HTTPS URL, got ${resolver}`)
  }
  return dns01Solver({ adapter, resolver: dohResolver({ url: url.href }), propagation })
}
