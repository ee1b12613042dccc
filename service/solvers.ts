/**
 * The challenge solvers: http-01 through KV (answered by this Worker's `/.well-known/acme-challenge/*` route) and
 * dns-01 through the DNS provider named by DNS_PROVIDER, with credentials from Worker secrets.
 */
import { type ChallengeSolver, type DnsAdapter, dns01Solver, dohResolver } from 'webacme'
import { type KvNamespaceLike, kvHttp01Solver } from 'webacme/cloudflare'
import { delegatedDns01Solver, delegationUnavailable, delegationZone } from './delegation.ts'
import type { Config, Env } from './env.ts'

/** The challenge types a job may ask for. */
export const CHALLENGES = ['http-01', 'dns-01'] as const
export type ChallengeType = (typeof CHALLENGES)[number]

/** Why dns-01 cannot be offered, or `undefined` when it can. */
export function dnsUnavailable(env: Env, config: Config): string | undefined {
  if (!config.dnsProvider) return 'dns-01 needs a DNS provider: set DNS_PROVIDER and its credentials'
  try {
    requireSecrets(env, config.dnsProvider)
    return delegationUnavailable(env)
  } catch (error) {
    return error instanceof Error ? error.message : String(error)
  }
}

const SECRETS: Record<string, Array<keyof Env>> = {
  cloudflare: ['CLOUDFLARE_API_TOKEN'],
  powerdns: ['PDNS_API_URL', 'PDNS_API_KEY'],
  route53: ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'],
  digitalocean: ['DIGITALOCEAN_TOKEN'],
  hetzner: ['HETZNER_API_TOKEN'],
  desec: ['DESEC_TOKEN'],
  porkbun: ['PORKBUN_API_KEY', 'PORKBUN_SECRET_API_KEY'],
  ovh: ['OVH_ENDPOINT', 'OVH_APPLICATION_KEY', 'OVH_APPLICATION_SECRET', 'OVH_CONSUMER_KEY'],
  google: ['GOOGLE_SERVICE_ACCOUNT'],
  'acme-dns': ['ACMEDNS_URL', 'ACMEDNS_ACCOUNTS'],
  azure: ['AZURE_TENANT_ID', 'AZURE_CLIENT_ID', 'AZURE_CLIENT_SECRET', 'AZURE_SUBSCRIPTION_ID'],
  gandi: ['GANDIV5_PERSONAL_ACCESS_TOKEN'],
  linode: ['LINODE_TOKEN'],
  namecheap: ['NAMECHEAP_API_USER', 'NAMECHEAP_API_KEY', 'NAMECHEAP_CLIENT_IP'],
  rfc2136: ['RFC2136_NAMESERVER', 'RFC2136_TSIG_KEY', 'RFC2136_TSIG_SECRET'],
}

function requireSecrets(env: Env, provider: string): void {
  const needed = SECRETS[provider]
  if (!needed) throw new Error(`DNS_PROVIDER ${provider} is not one of ${Object.keys(SECRETS).join(', ')}`)
  const missing = needed.filter((name) => !env[name])
  if (missing.length > 0) throw new Error(`DNS_PROVIDER ${provider} needs the secrets ${missing.join(', ')}`)
}

async function dnsAdapter(env: Env, provider: string): Promise<DnsAdapter> {
  requireSecrets(env, provider)
  switch (provider) {
    case 'cloudflare': {
      const { cloudflareAdapter } = await import('webacme/dns/cloudflare')
      return cloudflareAdapter({
        apiToken: env.CLOUDFLARE_API_TOKEN!,
        ...(env.CLOUDFLARE_ZONE_ID && { zoneId: env.CLOUDFLARE_ZONE_ID }),
      })
    }
    case 'powerdns': {
      const { powerDnsAdapter } = await import('webacme/dns/powerdns')
      return powerDnsAdapter({ url: env.PDNS_API_URL!, apiKey: env.PDNS_API_KEY! })
    }
    case 'route53': {
      const { route53Adapter } = await import('webacme/dns/route53')
      return route53Adapter({
        credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: env.AWS_SECRET_ACCESS_KEY! },
        ...(env.AWS_HOSTED_ZONE_ID && { hostedZoneId: env.AWS_HOSTED_ZONE_ID }),
      })
    }
    case 'digitalocean': {
      const { digitalOceanAdapter } = await import('webacme/dns/digitalocean')
      return digitalOceanAdapter({ token: env.DIGITALOCEAN_TOKEN! })
    }
    case 'hetzner': {
      const { hetznerAdapter } = await import('webacme/dns/hetzner')
      return hetznerAdapter({ apiToken: env.HETZNER_API_TOKEN! })
    }
    case 'desec': {
      const { desecAdapter } = await import('webacme/dns/desec')
      return desecAdapter({ token: env.DESEC_TOKEN! })
    }
    case 'porkbun': {
      const { porkbunAdapter } = await import('webacme/dns/porkbun')
      return porkbunAdapter({ apiKey: env.PORKBUN_API_KEY!, secretApiKey: env.PORKBUN_SECRET_API_KEY! })
    }
    case 'ovh': {
      const { ovhAdapter } = await import('webacme/dns/ovh')
      return ovhAdapter({
        endpoint: env.OVH_ENDPOINT!,
        credentials: {
          applicationKey: env.OVH_APPLICATION_KEY!,
          applicationSecret: env.OVH_APPLICATION_SECRET!,
          consumerKey: env.OVH_CONSUMER_KEY!,
        },
      })
    }
    case 'google': {
      const { googleCloudDnsAdapter } = await import('webacme/dns/google')
      return googleCloudDnsAdapter({ serviceAccount: env.GOOGLE_SERVICE_ACCOUNT! })
    }
    case 'azure': {
      const { azureDnsAdapter } = await import('webacme/dns/azure')
      return azureDnsAdapter({
        tenantId: env.AZURE_TENANT_ID!,
        clientId: env.AZURE_CLIENT_ID!,
        clientSecret: env.AZURE_CLIENT_SECRET!,
        subscriptionId: env.AZURE_SUBSCRIPTION_ID!,
        ...(env.AZURE_RESOURCE_GROUP && { resourceGroup: env.AZURE_RESOURCE_GROUP }),
      })
    }
    case 'gandi': {
      const { gandiAdapter } = await import('webacme/dns/gandi')
      return gandiAdapter({ personalAccessToken: env.GANDIV5_PERSONAL_ACCESS_TOKEN! })
    }
    case 'linode': {
      const { linodeAdapter } = await import('webacme/dns/linode')
      return linodeAdapter({ token: env.LINODE_TOKEN! })
    }
    case 'rfc2136': {
      // RFC 2136 over TCP through the Workers socket API: the library takes the socket, the Worker opens it.
      const [{ rfc2136Adapter, streamTransport }, { connect }] = await Promise.all([
        import('webacme/dns/rfc2136'),
        import('cloudflare:sockets'),
      ])
      const { hostname, port } = nameserver(env.RFC2136_NAMESERVER!)
      return rfc2136Adapter({
        transport: streamTransport(() => connect({ hostname, port }), { server: `${hostname}:${port}` }),
        tsig: {
          name: env.RFC2136_TSIG_KEY!,
          secret: env.RFC2136_TSIG_SECRET!,
          ...(env.RFC2136_TSIG_ALGORITHM && { algorithm: env.RFC2136_TSIG_ALGORITHM }),
        },
        ...(env.RFC2136_ZONE && { zone: env.RFC2136_ZONE }),
      })
    }
    case 'namecheap': {
      const { namecheapAdapter } = await import('webacme/dns/namecheap')
      return namecheapAdapter({
        apiUser: env.NAMECHEAP_API_USER!,
        apiKey: env.NAMECHEAP_API_KEY!,
        clientIp: env.NAMECHEAP_CLIENT_IP!,
      })
    }
    default: {
      const { acmeDnsAdapter } = await import('webacme/dns/acme-dns')
      return acmeDnsAdapter({ url: env.ACMEDNS_URL!, accounts: JSON.parse(env.ACMEDNS_ACCOUNTS!) })
    }
  }
}

/** The solvers for a job's challenge type. */
export async function solversFor(env: Env, config: Config, challenge: string): Promise<ChallengeSolver[]> {
  if (challenge === 'dns-01') {
    const adapter = await dnsAdapter(env, config.dnsProvider ?? '')
    const resolver = env.DNS_RESOLVER_URL ? dohResolver({ url: env.DNS_RESOLVER_URL }) : undefined
    // Delegated dns-01: the TXT records go to the delegation zone, never the customer's (delegation.ts).
    const zone = delegationZone(env)
    if (zone !== undefined) return [delegatedDns01Solver(adapter, zone, resolver)]
    return [dns01Solver({ adapter, ...(resolver && { resolver }) })]
  }
  return [kvHttp01Solver(challengeKv(env.CHALLENGES), { propagationDelay: config.http01PropagationMs })]
}

/** KV's own expiry of a token (kvHttp01Store's default): a token is not answered from memory for longer. */
const PRESENTED_TTL_MS = 3_600_000
const PRESENTED_MAX = 10_000
/** Tokens this isolate wrote and has not deleted, with when. */
const presentedHere = new Map<string, { value: string; at: number }>()

/**
 * The http-01 tokens' KV namespace, through this isolate's memory: what the consumer presents here is answered by the
 * challenge route of the same isolate without reading KV (on Cloudflare the CA's request often reaches another
 * location, which reads KV as before). Writes and deletes go to KV first.
 */
export function challengeKv(kv: KVNamespace): KvNamespaceLike {
  return {
    get(key, type) {
      const here = presentedHere.get(key)
      if (here && Date.now() - here.at < PRESENTED_TTL_MS) return Promise.resolve(here.value)
      return kv.get(key, type)
    },
    async put(key, value, options) {
      await kv.put(key, value, options)
      presentedHere.delete(key)
      presentedHere.set(key, { value, at: Date.now() })
      if (presentedHere.size > PRESENTED_MAX) presentedHere.delete(presentedHere.keys().next().value!)
    },
    async delete(key) {
      presentedHere.delete(key)
      await kv.delete(key)
    },
    list: (options) => kv.list(options),
  }
}

/** `RFC2136_NAMESERVER`: `host`, `host:port` or `[v6]:port`; the port defaults to 53. */
function nameserver(text: string): { hostname: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(text) ?? /^([^:]+)(?::(\d+))?$/.exec(text)
  const port = m?.[2] === undefined ? 53 : Number(m[2])
  if (!m?.[1] || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`RFC2136_NAMESERVER must be host, host:port or [IPv6]:port, got ${text}`)
  }
  return { hostname: m[1], port }
}
