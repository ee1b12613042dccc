/**
 * Bring your own CSR: a job whose certificate request was made by the customer. The service keeps the request (never
 * its key) and finalizes every order of the job with it, renewals included, until `PUT /api/certificates/:name/csr`
 * replaces it. Its certificates are stored as the other jobs' are (`certificates/<name>`), with an empty
 * `privateKey`: there is none to keep, and such a job is renewed here (`renewCsrJob`), never by `renewDue`.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8555#section-7.4
 * @see https://www.rfc-editor.org/rfc/rfc2986
 */

import type { IssuedCertificateForCsr } from 'webacme'
import {
  type CertificateRecord,
  certId,
  lifetimeRenewalTime,
  parseCsr,
  readCertificateRecord,
  type Storage,
  storageKeys,
  toIdentifier,
  verifyCsrSignature,
} from 'webacme'
import type { JobRecord } from 'webacme/cloudflare'
import type { Env } from '../env.ts'
import { storageName } from '../names.ts'
import { problem, serviceStorage } from './store.ts'

/** `csr/<name>`: the request a job's orders are finalized with. */
export interface JobCsr {
  /** PEM, as the customer sent it. */
  pem: string
  /** Its identifiers (normalised, sorted): a request is used only for a job with exactly these. */
  identifiers: string[]
  updatedAt: string
}

const MAX_CSR_LENGTH = 16_384
const MAX_IDENTIFIERS = 100

const csrKey = (name: string) => `csr/${name}`
const sameSet = (a: string[], b: string[]) => [...a].sort().join('\n') === [...b].sort().join('\n')

/** A request from the API, checked as any other input: a 400 answer, or the request and its identifiers. */
export async function readCsrInput(
  value: unknown,
): Promise<Response | { pem: string; identifiers: string[] }> {
  if (typeof value !== 'string' || value.length > MAX_CSR_LENGTH) {
    return problem(
      400,
      'ERR_INVALID_CSR',
      `csr must be a PEM "CERTIFICATE REQUEST" of at most ${MAX_CSR_LENGTH} characters`,
    )
  }
  let identifiers: string[]
  try {
    const parsed = parseCsr(value)
    identifiers = [...new Set(parsed.identifiers.map((i) => toIdentifier(i).value))]
    // RFC 2986 §4.2: a request altered or signed with another key is refused here, not after its order and
    // validations (Let's Encrypt answers badCSR at finalization; Pebble does not check and would issue).
    if ((await verifyCsrSignature(parsed)) === false) {
      return problem(
        400,
        'ERR_INVALID_CSR',
        'csr: its signature does not verify with its own public key (altered, or signed with another key)',
      )
    }
  } catch (error) {
    return problem(400, 'ERR_INVALID_CSR', `csr: ${(error as Error).message}`)
  }
  if (identifiers.length === 0 || identifiers.length > MAX_IDENTIFIERS) {
    return problem(
      400,
      'ERR_INVALID_CSR',
      `the request must name 1 to ${MAX_IDENTIFIERS} DNS names or IP addresses`,
    )
  }
  return { pem: value, identifiers }
}

/**
 * The names that had a request when the consumer's batch began (one list, not a read per run): `jobCsr` reads only
 * those, and the jobs created since (a name deleted and taken again by a CSR job while the batch runs).
 */
export interface KnownCsrs {
  names: Set<string>
  /**
   * A time of the account object's clock (ms, its answer to `session`) before the list was read. A CSR job's request
   * is stored before the object creates the job, so a job created before this time (its `createdAt`, the same clock)
   * that is not in the list has none.
   */
  before: number
}

/** The names with a request now; `before`: see {@link KnownCsrs}. */
export async function knownCsrs(env: Env, before: number): Promise<KnownCsrs> {
  const keys = await (await serviceStorage(env)).list(csrKey(''))
  return { names: new Set(keys.map((k) => k.slice(csrKey('').length))), before }
}

/** The request of a CSR job; `undefined` for a job whose key the service holds. */
export async function jobCsr(
  env: Env,
  job: Pick<JobRecord, 'name' | 'identifiers' | 'createdAt'>,
  known?: KnownCsrs,
): Promise<string | undefined> {
  if (known && !known.names.has(job.name) && Date.parse(job.createdAt) < known.before) return undefined
  const record = (await (await serviceStorage(env)).get(csrKey(job.name))) as JobCsr | undefined
  // A request left behind by a deleted job of the same name but other identifiers is not this job's.
  return record && sameSet(record.identifiers, job.identifiers) ? record.pem : undefined
}

/**
 * Before `createJob` of a CSR job: stores the request when the name is free, answers (409) when the name already
 * belongs to another request or to a job whose key the service holds. `undefined`: go on and create the job.
 */
export async function claimCsrJob(
  env: Env,
  name: string,
  input: { pem: string; identifiers: string[] },
  existing: JobRecord | undefined,
): Promise<Response | undefined> {
  const storage = await serviceStorage(env)
  if (existing) {
    // Other identifiers: createJob answers the conflict.
    if (!sameSet(existing.identifiers, input.identifiers)) return undefined
    const current = await jobCsr(env, existing)
    if (current === undefined) {
      return problem(409, 'ERR_NAME_TAKEN', `${name} is managed with a key the service holds, not with a CSR`)
    }
    if (current.trim() !== input.pem.trim()) {
      return problem(
        409,
        'ERR_CSR_CHANGED',
        `${name} has another CSR: replace it with PUT /api/certificates/${name}/csr`,
      )
    }
    return undefined
  }
  // Written before the job exists: a job never runs without its request.
  await storage.put(csrKey(name), { ...input, updatedAt: new Date().toISOString() } satisfies JobCsr)
  return undefined
}

/** `PUT /api/certificates/:name/csr`: a new request for a CSR job (same identifiers); the job is re-issued with it. */
export async function replaceCsr(
  env: Env,
  job: JobRecord | undefined,
  name: string,
  body: unknown,
): Promise<Response> {
  if (!job) return problem(404, 'ERR_NOT_FOUND', `no certificate ${name}`)
  const input = await readCsrInput((body as { csr?: unknown } | null)?.csr)
  if (input instanceof Response) return input
  if ((await jobCsr(env, job)) === undefined) {
    return problem(409, 'ERR_NOT_CSR_JOB', `${name} is managed with a key the service holds, not with a CSR`)
  }
  if (!sameSet(job.identifiers, input.identifiers)) {
    return problem(
      409,
      'ERR_IDENTIFIERS_CHANGED',
      `the new CSR names ${input.identifiers.join(', ')}, the job ${job.identifiers.join(', ')}: create a new job for other names`,
    )
  }
  await (await serviceStorage(env)).put(csrKey(name), {
    ...input,
    updatedAt: new Date().toISOString(),
  } satisfies JobCsr)
  // A certificate with the old key is replaced now: a renewal run as of its expiry finds it due.
  if (job.certificate) {
    await env.JOBS.send({ kind: 'renew', name, asOf: Date.parse(job.certificate.notAfter) })
  }
  return Response.json({ name, identifiers: input.identifiers, reissue: job.certificate !== undefined })
}

/** Forgets a job's request (the job is deleted). */
export async function forgetCsr(env: Env, name: string): Promise<void> {
  await (await serviceStorage(env)).delete(csrKey(name))
}

/** Stores a certificate issued for a CSR job where the API and the renewal find it. */
export async function saveCsrCertificate(
  storage: Storage,
  name: string,
  issued: IssuedCertificateForCsr,
  account: string,
): Promise<CertificateRecord> {
  const { parsed } = issued
  let id: string | undefined
  try {
    id = certId(parsed)
  } catch {
    id = undefined
  }
  const record: CertificateRecord = {
    name,
    identifiers: issued.csr.identifiers,
    certificate: issued.certificate,
    // The key stays with the customer.
    privateKey: '',
    ...(id !== undefined && { certId: id }),
    serialNumber: parsed.serialNumber,
    notBefore: parsed.notBefore.toISOString(),
    notAfter: parsed.notAfter.toISOString(),
    issuedAt: new Date().toISOString(),
    account,
  }
  await storage.put(storageKeys.certificate(name), record)
  return record
}

/** Whether a renewal run of a CSR job as of `asOf` (ms) has anything to do, and what it replaces (RFC 9773). */
export async function csrRenewal(
  storage: Storage,
  job: JobRecord,
  asOf: number,
): Promise<{ due: false; renewAt: string } | { due: true; replaces?: string }> {
  const record = await readCertificateRecord(storage, await storageName(job.name))
  const renewAt =
    job.certificate?.renewAt ??
    (record
      ? lifetimeRenewalTime(Date.parse(record.notBefore), Date.parse(record.notAfter)).toISOString()
      : new Date(0).toISOString())
  if (record && Date.parse(renewAt) > asOf) return { due: false, renewAt }
  return { due: true, ...(record?.certId !== undefined && { replaces: record.certId }) }
}
