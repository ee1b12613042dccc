/**
 * What a server needs to present a certificate: `GET /api/certificates/:name/bundle` →
 * `{ name, serial, notAfter, certificate, chain, fullchain, privateKey? }` (PEM; `privateKey` PKCS#8, absent for a
 * CSR job). Only a certificate that covers exactly the job's identifiers is ever served (a job recreated under the
 * same name with other identifiers, or left failed after a change of CA, has none until its new one is issued).
 */
import {
  type CertificateRecord,
  parseCertificate,
  readCertificateRecord,
  splitPemChain,
  toIdentifier,
} from 'webacme'
import type { JobRecord } from 'webacme/cloudflare'
import type { Env } from '../env.ts'
import { storageName } from '../names.ts'
import { servable } from '../serve.ts'
import { certificateStorage } from '../storage.ts'
import { serviceStorage } from './store.ts'

/** `deliveries/<name>`: bundles served for a job. */
interface DeliveryCount {
  deliveries: number
  lastDeliveredAt: string
}

const countKey = (name: string) => `deliveries/${name}`

/** Whether a PEM chain's end-entity certificate names exactly `identifiers`. */
export function coversIdentifiers(chain: string, identifiers: string[]): boolean {
  try {
    const leaf = parseCertificate(chain)
    const got = [...leaf.dnsNames.map((n) => n.toLowerCase()), ...leaf.ipAddresses].sort()
    const wanted = [...new Set(identifiers.map((i) => toIdentifier(i).value))].sort()
    return got.length === wanted.length && got.every((v, i) => v === wanted[i])
  } catch {
    return false
  }
}

/** The job's stored certificate, when it covers exactly the job's identifiers. */
export async function currentCertificate(
  env: Env,
  job: Pick<JobRecord, 'name' | 'identifiers' | 'certificate'>,
): Promise<CertificateRecord | undefined> {
  if (!job.certificate) return undefined
  const record = await readCertificateRecord(await certificateStorage(env), await storageName(job.name))
  // The job's own certificate (service/serve.ts), naming exactly the job's identifiers: never one left by an earlier job
  // of the same name with other identifiers, nor one of a run that never finished.
  return record && servable(job, record.certificate) && coversIdentifiers(record.certificate, job.identifiers)
    ? record
    : undefined
}

/** The bundle of a job's certificate, counted as one delivery; `undefined` before its first certificate. */
export async function bundle(env: Env, job: JobRecord): Promise<Response | undefined> {
  const record = await currentCertificate(env, job)
  if (!record) return undefined
  const [certificate, ...chain] = splitPemChain(record.certificate)
  await countDelivery(env, job.name)
  return Response.json(
    {
      name: job.name,
      serial: record.serialNumber,
      notAfter: record.notAfter,
      certificate,
      chain: chain.join(''),
      fullchain: [certificate, ...chain].join(''),
      ...(record.privateKey !== '' && { privateKey: record.privateKey }),
    },
    { headers: { 'cache-control': 'no-store' } },
  )
}

async function countDelivery(env: Env, name: string): Promise<void> {
  const storage = await serviceStorage(env)
  for (let tries = 0; tries < 5; tries++) {
    const current = (await storage.get(countKey(name))) as DeliveryCount | undefined
    const next: DeliveryCount = {
      deliveries: (current?.deliveries ?? 0) + 1,
      lastDeliveredAt: new Date().toISOString(),
    }
    if (!storage.compareAndSwap) return storage.put(countKey(name), next)
    if (await storage.compareAndSwap(countKey(name), current, next)) return
  }
}

/** What the job view adds: `{ deliveries, lastDeliveredAt? }`. */
export async function deliveryView(
  env: Env,
  name: string,
): Promise<{ deliveries: number; lastDeliveredAt?: string }> {
  const current = (await (await serviceStorage(env)).get(countKey(name))) as DeliveryCount | undefined
  return current ?? { deliveries: 0 }
}

/** Forgets a deleted job's count. */
export async function forgetDeliveries(env: Env, name: string): Promise<void> {
  await (await serviceStorage(env)).delete(countKey(name))
}
