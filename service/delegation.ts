/**
 * Delegated dns-01 (what Cloudflare for SaaS calls delegated DCV, and acme-dns's pattern). With `DNS_DELEGATION_ZONE`
 * set (a zone the service's `DNS_PROVIDER` controls), a customer creates one record once:
 *
 *     _acme-challenge.<hostname>  CNAME  <label>.<delegation zone>
 *
 * and every dns-01 TXT record of that hostname (its wildcard, every renewal) is written at the target, in the
 * delegation zone, never in the customer's zone. The label is derived from the hostname (32 hex digits of its
 * SHA-256), so it never changes and needs no storage. Before a job places its order, the CNAME is checked through
 * the service's DoH resolver (`DNS_RESOLVER_URL`); until it is in place the job waits
 * (`waitingFor: { reason: "cname", name, target }` in its view) and each cron pass checks it again.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8555#section-8.4 RFC 8555 §8.4 (the record is `_acme-challenge.<domain>`)
 * @see https://developers.cloudflare.com/ssl/edge-certificates/changing-dcv-method/methods/delegated-dcv/
 * @see https://github.com/joohoi/acme-dns
 */
import { type DnsAdapter, type DnsResolver, dns01Solver, dohResolver } from 'webacme'
import type { JobRecord } from 'webacme/cloudflare'
import type { AccountApi } from './account-object.ts'
import { serviceStorage, sha256Hex } from './delivery/store.ts'
import type { Env } from './env.ts'

/** The record a customer creates once per hostname. */
export interface DelegationRecord {
  type: 'cname'
  /** `_acme-challenge.<hostname>` (a wildcard's without its `*.`: RFC 8555 §7.1.3, §8.4). */
  name: string
  /** `<label>.<delegation zone>`. */
  target: string
}

/** `delegation/<name>`: the last check of a job's CNAMEs. */
interface DelegationState {
  /** The records not in place at the last check (empty: all in place). */
  missing: Array<DelegationRecord & { found?: string }>
  checkedAt: string
  /** Why the check could not tell (the resolver failed). */
  lastError?: string
}

/** How a job is validated, as its view says. */
export type ValidationMethod = 'http-01' | 'dns-01' | 'dns-01-delegated'

const PREFIX = '_acme-challenge.'
const LABEL = /^[a-z0-9_]([a-z0-9-]{0,61}[a-z0-9])?$/
const stateKey = (name: string) => `delegation/${name}`

function bare(name: string): string {
  return name.trim().replace(/\.$/, '').toLowerCase()
}

/**
 * The delegation zone, checked, or `undefined` when delegated dns-01 is off. Throws naming the var when it is not a
 * DNS name (RFC 1035 §2.3.4: labels up to 63 characters, names up to 253).
 */
export function delegationZone(env: Env): string | undefined {
  const raw = env.DNS_DELEGATION_ZONE
  if (raw === undefined || raw.trim() === '') return undefined
  const zone = bare(raw)
  const labels = zone.split('.')
  if (zone.length > 200 || labels.length < 2 || !labels.every((label) => LABEL.test(label))) {
    throw new Error(
      `DNS_DELEGATION_ZONE must be a DNS zone such as dcv.example.net, not ${JSON.stringify(raw)}`,
    )
  }
  return zone
}

/** Why delegated dns-01 cannot be offered (a bad DNS_DELEGATION_ZONE), or `undefined`. */
export function delegationUnavailable(env: Env): string | undefined {
  try {
    delegationZone(env)
    return undefined
  } catch (error) {
    return (error as Error).message
  }
}

/** The CNAME target of `_acme-challenge.<domain>`: the same for a hostname, its wildcard and every renewal. */
export async function delegationTarget(domain: string, zone: string): Promise<string> {
  return `${(await sha256Hex(bare(domain).replace(/^\*\./, ''))).slice(0, 32)}.${zone}`
}

/** The records a job's customer must create: one per domain (an apex and its wildcard share one). */
export async function delegationRecords(
  identifiers: readonly string[],
  zone: string,
): Promise<DelegationRecord[]> {
  // IP identifiers have no dns-01 (RFC 8738 §7): nothing to delegate.
  const domains = [
    ...new Set(identifiers.filter((i) => !/^[\d.]+$|:/.test(i)).map((i) => bare(i).replace(/^\*\./, ''))),
  ]
  return Promise.all(
    domains.map(async (domain) => ({
      type: 'cname' as const,
      name: PREFIX + domain,
      target: await delegationTarget(domain, zone),
    })),
  )
}

/**
 * `adapter` writing `_acme-challenge.<domain>` at its delegation target instead. Any other name is refused: this
 * adapter never writes outside the delegation zone.
 */
export function delegatedAdapter(adapter: DnsAdapter, zone: string): DnsAdapter {
  const at = async (name: string): Promise<string> => {
    const wanted = bare(name)
    if (!wanted.startsWith(PREFIX)) {
      throw new Error(`delegated dns-01 writes only _acme-challenge records, not ${JSON.stringify(name)}`)
    }
    return delegationTarget(wanted.slice(PREFIX.length), zone)
  }
  const delegated: DnsAdapter = {
    name: `${adapter.name} (delegated to ${zone})`,
    createTxt: async (name, value, call) => adapter.createTxt(await at(name), value, call),
    removeTxt: async (name, value, call) => adapter.removeTxt(await at(name), value, call),
  }
  if (adapter.waitForChange) {
    const wait = adapter.waitForChange.bind(adapter)
    delegated.waitForChange = async (name, value, call) => wait(await at(name), value, call)
  }
  return delegated
}

/**
 * The dns-01 solver of delegated mode: TXT records at the delegation target (no CNAME lookup when writing: the
 * target is known), and the propagation check through the customer's name, so it passes only once the CA, which
 * follows the CNAME, can see the value.
 */
export function delegatedDns01Solver(adapter: DnsAdapter, zone: string, resolver: DnsResolver | undefined) {
  return dns01Solver({
    adapter: delegatedAdapter(adapter, zone),
    followCname: false,
    ...(resolver && { resolver }),
  })
}

/** The resolver of the CNAME check: the service's DoH resolver (`DNS_RESOLVER_URL`, else the public defaults). */
function checkResolver(env: Env): DnsResolver {
  return env.DNS_RESOLVER_URL ? dohResolver({ url: env.DNS_RESOLVER_URL }) : dohResolver()
}

/** Which of `records` are not in place, as `resolver` sees them. */
export async function missingDelegations(
  resolver: DnsResolver,
  records: readonly DelegationRecord[],
): Promise<DelegationState['missing']> {
  const missing: DelegationState['missing'] = []
  for (const record of records) {
    const found = await resolver.resolveCname(record.name)
    if (found === undefined) missing.push(record)
    else if (bare(found) !== record.target) missing.push({ ...record, found: bare(found) })
  }
  return missing
}

/**
 * Before an issuance run of a delegated dns-01 job places its order: whether it must wait for its customer's
 * CNAME. `true`: not in place (or the resolver could not tell); the check is recorded for the job's view and the
 * job stays pending, so the next cron pass (or the same `POST` again) checks again. Jobs with an order in progress
 * (a run resumed after a crash), other challenge types, and every job when delegation is off go on at once.
 */
export async function awaitingDelegation(env: Env, account: AccountApi, name: string): Promise<boolean> {
  const zone = delegationZone(env)
  if (zone === undefined) return false
  const job = await account.getJob(name)
  if (job?.challenge !== 'dns-01' || job.orderUrl !== undefined) return false
  if (job.status !== 'pending' && job.status !== 'processing') return false
  const records = await delegationRecords(job.identifiers, zone)
  let state: DelegationState
  try {
    state = {
      missing: await missingDelegations(checkResolver(env), records),
      checkedAt: new Date().toISOString(),
    }
  } catch (error) {
    state = {
      missing: records,
      checkedAt: new Date().toISOString(),
      lastError: error instanceof Error ? error.message : String(error),
    }
  }
  await (await serviceStorage(env)).put(stateKey(name), state)
  return state.missing.length > 0
}

/** What the job view adds: the method, and for delegated dns-01 the records to create and what the job waits on. */
export async function delegationView(
  env: Env,
  job: JobRecord,
): Promise<{
  method: ValidationMethod
  verification?: DelegationRecord
  verifications?: Array<DelegationRecord & { status: 'pending' | 'active'; found?: string }>
  waitingFor?: { reason: 'cname'; name: string; target: string; found?: string; lastError?: string }
}> {
  const zone = job.challenge === 'dns-01' ? delegationZone(env) : undefined
  if (zone === undefined) return { method: job.challenge === 'dns-01' ? 'dns-01' : 'http-01' }
  const records = await delegationRecords(job.identifiers, zone)
  const state = (await (await serviceStorage(env)).get(stateKey(job.name))) as DelegationState | undefined
  const missing = new Map<string, DelegationState['missing'][number]>(
    (state?.missing ?? records).map((m) => [m.name, m]),
  )
  const verifications = records.map((record) => {
    const seen = missing.get(record.name)
    return {
      ...record,
      status: seen ? ('pending' as const) : ('active' as const),
      ...(seen?.found && { found: seen.found }),
    }
  })
  const first = verifications.find((v) => v.status === 'pending')
  const waiting =
    state !== undefined && first !== undefined && (job.status === 'pending' || job.status === 'processing')
  const shown = records.find((r) => r.name === first?.name) ?? records[0]
  return {
    method: 'dns-01-delegated',
    ...(shown && { verification: shown }),
    verifications,
    ...(waiting && {
      waitingFor: {
        reason: 'cname' as const,
        name: first.name,
        target: first.target,
        ...(first.found && { found: first.found }),
        ...(state.lastError && { lastError: state.lastError }),
      },
    }),
  }
}

/** Forgets a deleted job's check. */
export async function forgetDelegation(env: Env, name: string): Promise<void> {
  await (await serviceStorage(env)).delete(stateKey(name))
}
