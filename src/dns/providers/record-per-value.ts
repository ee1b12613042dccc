/**
 * Internal: `createTxt` and `removeTxt` for a provider that keeps one record per TXT value (Cloudflare,
 * DigitalOcean, Linode, OVH, Porkbun). A value is added by creating one record, unless a record at the name
 * already carries it, and removed by deleting exactly the records that carry it, so the other values at the name
 * (an apex and its wildcard publish two) are never touched. Writes to one name run one after another
 * ({@link keyedQueue}): the check for an existing record and the create that follows it are never interleaved with
 * another write to the name.
 *
 * Each provider states only what its API does: how to find the zone, the records that carry a value, how to
 * create and delete one record.
 *
 * @module
 */
import type { AbortSignalLike } from '../../lib/web-types.ts'
import type { DnsAdapter, DnsCallOptions } from '../adapter.ts'
import { isDnsProviderError } from '../errors.ts'
import { keyedQueue } from '../queue.ts'
import { canonicalName } from '../zone.ts'

/** What one provider's API does; `Zone` and `Id` are whatever it names zones and records with. */
export interface RecordPerValueApi<Zone, Id> {
  /** The zone that holds `fqdn` (lower case, no trailing dot). */
  findZone(fqdn: string, signal: AbortSignalLike | undefined): Promise<Zone>
  /** Ids of the TXT records at `fqdn` that carry `value`. */
  matching(zone: Zone, fqdn: string, value: string, signal: AbortSignalLike | undefined): Promise<Id[]>
  /** Creates one TXT record at `fqdn` carrying `value`. */
  create(zone: Zone, fqdn: string, value: string, signal: AbortSignalLike | undefined): Promise<void>
  /** Deletes one record. */
  delete(zone: Zone, id: Id, signal: AbortSignalLike | undefined): Promise<void>
  /**
   * Whether a failed delete means the record is already gone, which is what was asked (default: the provider
   * answered `ERR_DNS_NOT_FOUND`).
   */
  alreadyGone?(err: unknown, zone: Zone, fqdn: string, value: string, id: Id): Promise<boolean> | boolean
  /** Runs after records of `zone` were created or deleted (OVH publishes a zone's changes only on refresh). */
  changed?(zone: Zone, signal: AbortSignalLike | undefined): Promise<void>
}

const notFound = (err: unknown): boolean => isDnsProviderError(err, 'ERR_DNS_NOT_FOUND')

/** A {@link DnsAdapter} named `provider` writing one record per value through `api`. */
export function recordPerValueAdapter<Zone, Id>(
  provider: string,
  api: RecordPerValueApi<Zone, Id>,
): DnsAdapter {
  const queue = keyedQueue()
  const alreadyGone = api.alreadyGone ?? notFound
  /** Runs `task` for the zone of `name` once the writes to `name` queued before it are done. */
  const write = async (
    name: string,
    call: DnsCallOptions,
    task: (zone: Zone, fqdn: string) => Promise<void>,
  ) => {
    const fqdn = canonicalName(name)
    const zone = await api.findZone(fqdn, call.signal)
    await queue(fqdn, () => task(zone, fqdn), call.signal)
  }
  return {
    name: provider,
    createTxt: (name: string, value: string, call: DnsCallOptions = {}) =>
      write(name, call, async (zone, fqdn) => {
        if ((await api.matching(zone, fqdn, value, call.signal)).length > 0) return
        await api.create(zone, fqdn, value, call.signal)
        await api.changed?.(zone, call.signal)
      }),
    removeTxt: (name: string, value: string, call: DnsCallOptions = {}) =>
      write(name, call, async (zone, fqdn) => {
        const ids = await api.matching(zone, fqdn, value, call.signal)
        if (ids.length === 0) return
        for (const id of ids) {
          try {
            await api.delete(zone, id, call.signal)
          } catch (err) {
            if (!(await alreadyGone(err, zone, fqdn, value, id))) throw err
          }
        }
        await api.changed?.(zone, call.signal)
      }),
  }
}
