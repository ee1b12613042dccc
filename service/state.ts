/**
 * Where the service keeps its state, and how state kept by an earlier version moves there.
 *
 * The service's Durable Object (jobs, tokens, the ACME account, the budget) is found by a fixed name,
 * {@link SERVICE_OBJECT}: the CA's directory URL is a setting of that object, not its identity, so a restart with
 * another CA (a new local Pebble port, Let's Encrypt staging → production) finds every job again. Each certificate
 * records the directory of the CA that issued it; after a change of CA the cron pass re-issues each job from the new
 * CA while its certificate stays served.
 *
 * Up to schema 1 the object was named by the directory URL. {@link migrateFromLegacy} copies such an object (the
 * one of `MIGRATE_FROM_DIRECTORY`, default `ACME_DIRECTORY`) into the service object once, before the service
 * object answers anything; the legacy object is left as it was, marked as moved.
 */
import type { JobRecord } from 'webacme/cloudflare'

/** The name of the service's one Durable Object. */
export const SERVICE_OBJECT = 'webacme-service'

/** The storage key holding the schema version of the service object. */
export const SCHEMA_KEY = 'schema'
/** Schema 2: named {@link SERVICE_OBJECT}, certificates record their CA, hostnames indexed under `host/`. */
export const SCHEMA = 2
/** Marks a legacy object whose state was copied into the service object. */
export const MOVED_KEY = 'moved-to'

/** The index entry naming the job that manages `hostname` (one hostname, one job). */
export function hostKey(hostname: string): string {
  return `host/${hostname}`
}

/** A page of a legacy object's storage. */
export interface LegacyPage {
  entries: Array<[string, unknown]>
  /** The last key of the page, when there may be more. */
  next?: string
}

/** What the service object asks of a legacy one. */
export interface LegacyObject {
  exportEntries(after: string | undefined): Promise<LegacyPage>
  exportDone(to: string): Promise<void>
}

/** What the migration writes to (the service object's storage). */
export interface MigrationStorage {
  get(key: string): Promise<unknown>
  put(entries: Record<string, unknown>): Promise<void>
}

/** Keys of a legacy object that are copied (its nonces and the last cron pass are not worth keeping). */
const COPIED = /^(account|budget|pacer|job\/.+)$/
/** Durable Object storage writes at most 128 keys at once. */
const BATCH = 128

/**
 * Copies a legacy object into the service object once: its account, budget, pacer and every job (each certificate
 * marked as issued by `legacyDirectoryUrl`, the CA the legacy object was named after), and builds the hostname
 * index. Idempotent until the schema is written last: a crash half-way copies again. Returns how many jobs moved,
 * or `undefined` when the service object had been set up before (nothing was read).
 */
export async function migrateFromLegacy(
  storage: MigrationStorage,
  legacy: LegacyObject,
  legacyDirectoryUrl: string,
): Promise<number | undefined> {
  if ((await storage.get(SCHEMA_KEY)) !== undefined) return undefined
  let jobs = 0
  let after: string | undefined
  let account: { directoryUrl?: string } | undefined
  for (;;) {
    const page = await legacy.exportEntries(after)
    const batch: Record<string, unknown> = {}
    for (const [key, value] of page.entries) {
      if (!COPIED.test(key)) continue
      if (key === 'account') account = value as { directoryUrl?: string }
      if (key.startsWith('job/')) {
        const job = value as JobRecord
        const issuer = account?.directoryUrl ?? legacyDirectoryUrl
        const moved: JobRecord = job.certificate
          ? {
              ...job,
              certificate: { ...job.certificate, directoryUrl: job.certificate.directoryUrl ?? issuer },
            }
          : job
        batch[key] = moved
        for (const hostname of job.identifiers) batch[hostKey(hostname)] = job.name
        jobs++
      } else {
        batch[key] = value
      }
    }
    const keys = Object.keys(batch)
    for (let i = 0; i < keys.length; i += BATCH) {
      await storage.put(Object.fromEntries(keys.slice(i, i + BATCH).map((k) => [k, batch[k]])))
    }
    if (page.next === undefined) break
    after = page.next
  }
  if (jobs > 0 || account) await legacy.exportDone(SERVICE_OBJECT)
  await storage.put({ [SCHEMA_KEY]: SCHEMA })
  return jobs
}
