/**
 * Cloudflare's edge: with `DELIVER_CLOUDFLARE_ZONE_ID` and the `CLOUDFLARE_API_TOKEN` secret, every certificate
 * issued or renewed (of a job whose key the service holds) is installed on the zone's custom hostname for each DNS
 * name of the job: created with `ssl.custom_certificate` and `ssl.custom_key` when the zone has none for it, else
 * PATCHed with them. The outcome is kept per job (`cloudflare/<name>` in the delivery records) and shown in the job
 * view as `delivery.cloudflare: { status, customHostnameId, lastError? }`; a failed install (`error`) or one a crash
 * interrupted (`pending`) is tried again by every cron pass.
 *
 * @see https://developers.cloudflare.com/api/resources/custom_hostnames/methods/create/
 * @see https://developers.cloudflare.com/api/resources/custom_hostnames/methods/edit/
 * @see https://developers.cloudflare.com/api/resources/custom_hostnames/methods/list/
 */
import { type CertificateRecord, readCertificateRecord } from 'webacme'
import type { JobRecord } from 'webacme/cloudflare'
import { accountOf } from '../account-object.ts'
import { type Env, readConfig } from '../env.ts'
import { storageName } from '../names.ts'
import { certificateStorage } from '../storage.ts'
import { serviceStorage } from './store.ts'

/** `cloudflare/<name>`: the last install of a job's certificate at the edge. */
export interface EdgeDelivery {
  status: 'pending' | 'active' | 'error'
  /** The custom hostname of the job's first DNS name. */
  customHostnameId?: string
  /** Every DNS name of the job and its custom hostname. */
  customHostnames?: Record<string, string>
  serial: string
  lastError?: string
  updatedAt: string
}

/** The Cloudflare API's envelope. */
interface Envelope<T> {
  success: boolean
  errors: Array<{ code: number; message: string }>
  result: T
}

const edgeKey = (name: string) => `cloudflare/${name}`

function settings(env: Env) {
  const zone = env.DELIVER_CLOUDFLARE_ZONE_ID?.trim()
  const token = env.CLOUDFLARE_API_TOKEN?.trim()
  if (!zone || !token) return undefined
  const base = (env.CLOUDFLARE_API_BASE?.trim() || 'https://api.cloudflare.com/client/v4').replace(/\/+$/, '')
  return { zone, token, base }
}

async function api<T>(env: Env, method: string, path: string, body?: unknown): Promise<T> {
  const s = settings(env)!
  const response = await fetch(`${s.base}/zones/${encodeURIComponent(s.zone)}${path}`, {
    method,
    headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' },
    ...(body !== undefined && { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(30_000),
  })
  let envelope: Envelope<T> | undefined
  try {
    envelope = (await response.json()) as Envelope<T>
  } catch {
    envelope = undefined
  }
  if (!response.ok || !envelope?.success) {
    const errors = envelope?.errors?.map((e) => `${e.code}: ${e.message}`).join('; ')
    throw new Error(`Cloudflare ${method} ${path}: ${response.status} ${errors || 'no error envelope'}`)
  }
  return envelope.result
}

async function installOne(env: Env, hostname: string, record: CertificateRecord): Promise<string> {
  const ssl = { custom_certificate: record.certificate, custom_key: record.privateKey }
  const found = await api<Array<{ id: string; hostname: string }>>(
    env,
    'GET',
    `/custom_hostnames?hostname=${encodeURIComponent(hostname)}`,
  )
  const existing = found.find((h) => h.hostname === hostname)
  if (existing) {
    await api(env, 'PATCH', `/custom_hostnames/${encodeURIComponent(existing.id)}`, { ssl })
    return existing.id
  }
  const created = await api<{ id: string }>(env, 'POST', '/custom_hostnames', { hostname, ssl })
  return created.id
}

/**
 * Installs a job's current certificate at the edge, when configured; records the outcome. Never throws: the
 * certificate is issued either way, and the cron pass retries what failed.
 */
export async function deliverToEdge(
  env: Env,
  job: Pick<JobRecord, 'name' | 'identifiers'>,
  record: CertificateRecord,
): Promise<void> {
  if (!settings(env) || record.privateKey === '') return
  const storage = await serviceStorage(env)
  const base = { serial: record.serialNumber, updatedAt: new Date().toISOString() }
  // Before the first request: a crash leaves `pending`, which the cron pass finishes.
  const previous = (await storage.get(edgeKey(job.name))) as EdgeDelivery | undefined
  await storage.put(edgeKey(job.name), {
    ...previous,
    ...base,
    status: 'pending',
  } satisfies EdgeDelivery)
  const hostnames = job.identifiers.filter((i) => !i.startsWith('*.') && !/^[\d.]+$|:/.test(i))
  const ids: Record<string, string> = {}
  try {
    for (const hostname of hostnames) ids[hostname] = await installOne(env, hostname, record)
    await storage.put(edgeKey(job.name), {
      ...base,
      status: 'active',
      ...(hostnames[0] && { customHostnameId: ids[hostnames[0]] }),
      customHostnames: ids,
    } satisfies EdgeDelivery)
  } catch (error) {
    const { lastError: _, ...kept } = previous ?? {}
    await storage.put(edgeKey(job.name), {
      ...kept,
      ...base,
      status: 'error',
      ...(hostnames[0] && ids[hostnames[0]] && { customHostnameId: ids[hostnames[0]] }),
      lastError: error instanceof Error ? error.message : String(error),
    } satisfies EdgeDelivery)
  }
}

/** What the job view shows: `{ delivery: { cloudflare: { status, customHostnameId, lastError? } } }` or nothing. */
export async function edgeView(env: Env, name: string): Promise<{ delivery?: { cloudflare: object } }> {
  if (!settings(env)) return {}
  const current = (await (await serviceStorage(env)).get(edgeKey(name))) as EdgeDelivery | undefined
  if (!current) return {}
  const { status, customHostnameId, lastError, customHostnames, serial, updatedAt } = current
  return {
    delivery: {
      cloudflare: {
        status,
        ...(customHostnameId !== undefined && { customHostnameId }),
        ...(lastError !== undefined && { lastError }),
        ...(customHostnames !== undefined && { customHostnames }),
        serial,
        updatedAt,
      },
    },
  }
}

/** The cron pass's part: installs again what failed or was interrupted. Returns how many were tried. */
export async function retryEdgeDeliveries(env: Env): Promise<number> {
  if (!settings(env)) return 0
  const storage = await serviceStorage(env)
  const account = accountOf(env, readConfig(env))
  const certificates = await certificateStorage(env)
  let tried = 0
  for (const key of await storage.list('cloudflare/')) {
    const current = (await storage.get(key)) as EdgeDelivery | undefined
    if (!current || current.status === 'active') continue
    const name = key.slice('cloudflare/'.length)
    const [job, record] = await Promise.all([
      account.getJob(name),
      readCertificateRecord(certificates, await storageName(name)),
    ])
    if (!job || !record) {
      await storage.delete(key)
      continue
    }
    tried++
    await deliverToEdge(env, job, record)
  }
  return tried
}

/** Forgets a deleted job's edge record (the custom hostname stays: it is the operator's). */
export async function forgetEdge(env: Env, name: string): Promise<void> {
  await (await serviceStorage(env)).delete(edgeKey(name))
}
